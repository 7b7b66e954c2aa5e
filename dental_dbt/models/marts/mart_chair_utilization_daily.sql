-- Chair utilization per day, clinic and operatory (grain: utilization_date, clinic_id, operatory_id),
-- System G. Minutes:
--   open_minutes       the operatory's open time that day from provider schedules (int_operatory_schedule:
--                      the union of schedule StartTime..StopTime spans on the operatory's scheduleop rows);
--   scheduled_minutes  booked chair time (int_appointments.scheduled_minutes, 5 x length(Pattern)) of the
--                      appointments on the book in that operatory that day (AptStatus Scheduled, Complete
--                      or Broken, as mart_appointments_daily counts them);
--   used_minutes       chair time of the completed ones (int_appointments.used_minutes).
--   scheduled_utilization = scheduled_minutes / open_minutes, used_utilization = used_minutes /
--                      open_minutes (ratios, 4 decimals; NULL when the operatory was not open that day).
-- A full outer join: an operatory open with nothing booked has 0 booked minutes; appointments booked in
-- an operatory no schedule opened that day keep their minutes with open_minutes 0. Appointments on no
-- operatory (appointment.Op 0) are operatory_id 0. clinic_id is the operatory's clinic (operatory.ClinicNum),
-- for operatory 0 the appointment's; 0 = none (also an operatory of no clinic). Undated appointments belong
-- to no day and are left out.

with open_time as (

    select
        schedule_date                                               as utilization_date,
        coalesce(clinic_id, 0)                                      as clinic_id,
        operatory_id,
        open_minutes
    from {{ ref('int_operatory_schedule') }}

),

operatories as (

    select * from {{ ref('stg_opendental__operatory') }}

),

booked as (

    select
        appointments.appointment_date                               as utilization_date,
        -- the operatory's clinic, 0 for an operatory of no clinic (ClinicNum 0, as the open time has it; its
        -- appointments carry the patient's clinic: OpenDental/Main Modules/ControlAppt.cs), the appointment's
        -- only on no operatory
        case when appointments.operatory_id is null then coalesce(appointments.clinic_id, 0)
             else coalesce(operatories.clinic_num, 0) end           as clinic_id,
        coalesce(appointments.operatory_id, 0)                      as operatory_id,
        count(*)                                                    as appointment_count,
        count(*) filter (where appointments.apt_status = 2)         as completed_count,
        sum(appointments.scheduled_minutes)                         as scheduled_minutes,
        sum(appointments.used_minutes)                              as used_minutes
    from {{ ref('int_appointments') }} as appointments
    left join operatories
        on appointments.operatory_id = operatories.operatory_num
    where appointments.appointment_date is not null
        and appointments.apt_status in (1, 2, 5)
    group by 1, 2, 3

),

joined as (

    select
        coalesce(open_time.utilization_date, booked.utilization_date) as utilization_date,
        coalesce(open_time.clinic_id, booked.clinic_id)             as clinic_id,
        coalesce(open_time.operatory_id, booked.operatory_id)       as operatory_id,
        coalesce(open_time.open_minutes, 0)                         as open_minutes,
        coalesce(booked.appointment_count, 0)                       as appointment_count,
        coalesce(booked.completed_count, 0)                         as completed_count,
        coalesce(booked.scheduled_minutes, 0)                       as scheduled_minutes,
        coalesce(booked.used_minutes, 0)                            as used_minutes
    from open_time
    full outer join booked
        on open_time.utilization_date = booked.utilization_date
        and open_time.clinic_id = booked.clinic_id
        and open_time.operatory_id = booked.operatory_id

),

final as (

    select
        *,
        round(scheduled_minutes::numeric / nullif(open_minutes, 0), 4) as scheduled_utilization,
        round(used_minutes::numeric / nullif(open_minutes, 0), 4)   as used_utilization
    from joined

)

select * from final
