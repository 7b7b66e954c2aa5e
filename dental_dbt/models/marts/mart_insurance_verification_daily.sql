-- Insurance verification before appointments, per appointment day and clinic (grain: appointment_date,
-- clinic_id), as of the run's as-of date (run setting as_of_date, default today), following OpenDental's
-- Insurance Verification List (OpenDentBusiness/Data Interface/InsVerifies.cs, GetVerifyGridListQuery):
--   * appointments: AptStatus Scheduled or Complete (the statuses the list shows), on or before
--     as_of_date, of a patient with a primary coverage (patplan Ordinal 1; int_patient_coverage), at a
--     clinic the list does not leave out (clinic.IsInsVerifyExcluded; no clinic is kept);
--   * the patient's enrollment (verifications of the patplan, VerifyType PatientEnrollment) was verified
--     in time when a verification is dated within patient_enrollment_days (InsVerifyPatientEnrollmentDays,
--     default 30) before the appointment's day, the day itself included: D - 30 <= verified <= D (the list
--     shows an appointment whose last verification is older than that, InsVerifies.cs); the plan's benefits
--     (verifications of the insplan, VerifyType InsuranceBenefit) likewise within benefit_eligibility_days
--     (InsVerifyBenefitEligibilityDays, default 90);
--   * verified late: not in time, but verified 1 to appointment_scheduled_days
--     (InsVerifyAppointmentScheduledDays, default 7) days after the appointment;
--   * not verified: neither;
--   * a plan marked HideFromVerifyList needs no benefits verification (the list never shows it for its
--     benefits): its benefits_status is 'not_needed', which counts as in time for the appointment;
--   * an appointment is verified in time when both are, not verified when either is not verified, late
--     otherwise. Only verifications dated on or before as_of_date count.
-- The windows are the practice's preferences (int_insurance_verification_settings). clinic_id 0 = none.

with run_date as (

    select {{ as_of_date() }} as as_of_date

),

settings as (

    select * from {{ ref('int_insurance_verification_settings') }}

),

appointments as (

    select
        appointments.appointment_id,
        appointments.appointment_date,
        appointments.patient_id,
        coalesce(appointments.clinic_id, 0)                         as clinic_id
    from {{ ref('int_appointments') }} as appointments
    cross join run_date
    where appointments.apt_status in (1, 2)  -- ApptStatus Scheduled, Complete
        and appointments.appointment_date <= run_date.as_of_date
        and not coalesce(appointments.is_clinic_ins_verify_excluded, false)

),

primary_coverage as (

    select distinct on (patient_id)
        patient_id,
        patient_plan_id,
        insurance_plan_id,
        coalesce(is_hidden_from_verify_list, false)                 as is_hidden_from_verify_list
    from {{ ref('int_patient_coverage') }}
    where ordinal = 1
    order by patient_id, patient_plan_id

),

insured as (

    select
        appointments.*,
        primary_coverage.patient_plan_id,
        primary_coverage.insurance_plan_id,
        primary_coverage.is_hidden_from_verify_list
    from appointments
    inner join primary_coverage
        on appointments.patient_id = primary_coverage.patient_id

),

-- one row per (appointment, what to verify): the patplan's enrollment and the plan's benefits
needs as (

    select appointment_id, appointment_date, 'patient_enrollment' as verify_type,
           patient_plan_id as coverage_id, settings.patient_enrollment_days as window_days
    from insured
    cross join settings
    union all
    select appointment_id, appointment_date, 'insurance_benefit',
           insurance_plan_id, settings.benefit_eligibility_days
    from insured
    cross join settings
    where not insured.is_hidden_from_verify_list

),

verifications as (

    select
        verifications.verify_type,
        coalesce(verifications.patient_plan_id, verifications.insurance_plan_id) as coverage_id,
        verifications.verified_date
    from {{ ref('int_insurance_verifications') }} as verifications
    cross join run_date
    where verifications.verified_date <= run_date.as_of_date

),

-- in time: verified window_days before the appointment's day up to the day itself; late: 1 to
-- appointment_scheduled_days after it
checks as (

    select
        needs.appointment_id,
        needs.verify_type,
        bool_or(verifications.verified_date <= needs.appointment_date)  as in_time,
        bool_or(verifications.verified_date > needs.appointment_date)   as late
    from needs
    cross join settings
    inner join verifications
        on verifications.verify_type = needs.verify_type
        and verifications.coverage_id = needs.coverage_id
        and verifications.verified_date >= needs.appointment_date - needs.window_days
        and verifications.verified_date <= needs.appointment_date + settings.appointment_scheduled_days
    group by needs.appointment_id, needs.verify_type

),

classified as (

    select
        insured.appointment_date,
        insured.clinic_id,
        case when enrollment.in_time then 'in_time' when enrollment.late then 'late' else 'not_verified' end
                                                                    as enrollment_status,
        case
            when insured.is_hidden_from_verify_list then 'not_needed'
            when benefits.in_time then 'in_time'
            when benefits.late then 'late'
            else 'not_verified'
        end                                                         as benefits_status
    from insured
    left join checks as enrollment
        on insured.appointment_id = enrollment.appointment_id
        and enrollment.verify_type = 'patient_enrollment'
    left join checks as benefits
        on insured.appointment_id = benefits.appointment_id
        and benefits.verify_type = 'insurance_benefit'

),

final as (

    select
        classified.appointment_date,
        classified.clinic_id,
        run_date.as_of_date,
        count(*)                                                    as insured_appointment_count,
        count(*) filter (where enrollment_status = 'in_time')       as enrollment_in_time_count,
        count(*) filter (where enrollment_status = 'late')          as enrollment_late_count,
        count(*) filter (where enrollment_status = 'not_verified')  as enrollment_not_verified_count,
        count(*) filter (where benefits_status = 'in_time')         as benefits_in_time_count,
        count(*) filter (where benefits_status = 'late')            as benefits_late_count,
        count(*) filter (where benefits_status = 'not_verified')    as benefits_not_verified_count,
        count(*) filter (where benefits_status = 'not_needed')      as benefits_not_needed_count,
        count(*) filter (where enrollment_status = 'in_time' and benefits_status in ('in_time', 'not_needed'))
                                                                    as verified_in_time_count,
        count(*) filter (where enrollment_status <> 'not_verified' and benefits_status <> 'not_verified'
                         and not (enrollment_status = 'in_time' and benefits_status in ('in_time', 'not_needed')))
                                                                    as verified_late_count,
        count(*) filter (where enrollment_status = 'not_verified' or benefits_status = 'not_verified')
                                                                    as not_verified_count
    from classified
    cross join run_date
    group by classified.appointment_date, classified.clinic_id, run_date.as_of_date

)

select * from final
