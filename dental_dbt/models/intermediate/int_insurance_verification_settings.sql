-- The practice's Insurance Verification List settings, one row, from OpenDental's preference table with
-- OpenDental 24.3's defaults where a preference is missing (the upgrade script that adds them,
-- OpenDentBusiness/Misc/ConvertDatabases3.cs, inserts these values; InsVerifies.cs reads them):
--   appointment_scheduled_days  InsVerifyAppointmentScheduledDays (default 7): an appointment appears on
--                               the list this many days ahead;
--   patient_enrollment_days     InsVerifyPatientEnrollmentDays (default 30): a patient's enrollment
--                               verification is current this many days;
--   benefit_eligibility_days    InsVerifyBenefitEligibilityDays (default 90): a plan's benefits
--                               verification is current this many days.
-- A value that is not a whole number of days >= 0 reads as the default.

with preferences as (

    select * from {{ ref('stg_opendental__preference') }}
    where pref_name in ('InsVerifyAppointmentScheduledDays', 'InsVerifyPatientEnrollmentDays',
                        'InsVerifyBenefitEligibilityDays')

),

parsed as (

    select
        pref_name,
        case when trim(value_string) ~ '^[0-9]{1,5}$' then cast(trim(value_string) as integer) end as value_days
    from preferences

),

picked as (

    select
        max(value_days) filter (where pref_name = 'InsVerifyAppointmentScheduledDays') as appointment_scheduled_days,
        max(value_days) filter (where pref_name = 'InsVerifyPatientEnrollmentDays')    as patient_enrollment_days,
        max(value_days) filter (where pref_name = 'InsVerifyBenefitEligibilityDays')   as benefit_eligibility_days
    from parsed

),

final as (

    select
        coalesce(picked.appointment_scheduled_days, 7)              as appointment_scheduled_days,
        coalesce(picked.patient_enrollment_days, 30)                as patient_enrollment_days,
        coalesce(picked.benefit_eligibility_days, 90)               as benefit_eligibility_days
    from picked

)

select * from final
