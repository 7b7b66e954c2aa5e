-- Appointments per day, clinic and provider (grain: appointment_date, clinic_id, provider_id), from
-- int_appointments. Counts of appointments (OpenDental ApptStatus): scheduled = on the book that day
-- (Scheduled, Complete or Broken; unscheduled-list, planned and note rows are not on the book),
-- completed (Complete), broken (Broken), no_show (broken, with a Missed history entry: broken with D9986),
-- new_patient (booked appointments flagged IsNewPatient), hygiene (booked hygiene appointments).
-- Minutes: scheduled_minutes of booked appointments, used_minutes of completed ones. clinic_id and
-- provider_id 0 = none.

with appointments as (

    select * from {{ ref('int_appointments') }}
    where appointment_date is not null
        and apt_status in (1, 2, 5)

),

final as (

    select
        appointment_date,
        coalesce(clinic_id, 0)                                      as clinic_id,
        coalesce(provider_id, 0)                                    as provider_id,
        count(*)                                                    as scheduled,
        count(*) filter (where apt_status = 2)                      as completed,
        count(*) filter (where apt_status = 5)                      as broken,
        count(*) filter (where is_no_show)                          as no_show,
        count(*) filter (where is_new_patient)                      as new_patient,
        count(*) filter (where is_hygiene)                          as hygiene,
        sum(scheduled_minutes)                                      as scheduled_minutes,
        sum(used_minutes)                                           as used_minutes
    from appointments
    group by 1, 2, 3

)

select * from final
