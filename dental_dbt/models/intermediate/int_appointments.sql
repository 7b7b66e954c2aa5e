-- One row per OpenDental appointment (appointment.AptNum), every status, with its status decoded,
-- its booked chair time and its used chair time (System G, scheduling). Minutes:
--   scheduled_minutes = 5 x length(appointment.Pattern) (OpenDental stores the time pattern in
--                       5-minute increments, one character each);
--   used_minutes      = DateTimeDismissed - DateTimeSeated of a completed appointment when both are
--                       recorded and in order, else its scheduled_minutes.
-- A broken appointment (AptStatus 5) is a no-show when the latest break in its history is a Missed entry
-- (histappointment.HistApptAction 2): OpenDental writes it, under the appointment's AptNum, when the
-- appointment is broken with the missed-appointment code D9986 (AppointmentL.BreakApptHelper); D9987
-- writes Cancelled (3). An appointment missed, booked again and then cancelled was cancelled. The D9986 procedure itself is dated the day the appointment was broken, which
-- may be a later day, and carries no AptNum: it is not used. As in OpenDental's broken-appointments
-- report by status, only appointments still Broken count: one broken and then sent to the unscheduled
-- list (AptStatus 3) or booked again is counted as what it is now.
-- is_clinic_ins_verify_excluded: the appointment's clinic is left off OpenDental's Insurance
-- Verification List (clinic.IsInsVerifyExcluded; false without a clinic).
-- A status code OpenDental 24.3 does not define (staging's apt_status NULL, the stored code in
-- apt_status_code) decodes to 'unknown': such an appointment counts as none of scheduled, complete or
-- broken.

with appointments as (

    select * from {{ ref('stg_opendental__appointment') }}

),

excluded_clinics as (

    select clinic_num
    from {{ ref('stg_opendental__clinic') }}
    where is_ins_verify_excluded

),

-- the latest Missed or Cancelled entry of each appointment, when it is Missed
missed as (

    select apt_num
    from (
        select distinct on (apt_num)
            apt_num,
            hist_appt_action
        from {{ ref('stg_opendental__histappointment') }}
        where hist_appt_action in (2, 3)
        order by apt_num, hist_date_t_stamp desc nulls last, hist_appt_num desc
    ) as latest_break
    where hist_appt_action = 2

),

final as (

    select
        appointments.apt_num                                        as appointment_id,
        appointments.pat_num                                        as patient_id,
        appointments.clinic_num                                     as clinic_id,
        appointments.prov_num                                       as provider_id,
        appointments.prov_hyg                                       as hygienist_id,
        appointments.op                                             as operatory_id,
        appointments.apt_date_time                                  as appointment_at,
        cast(appointments.apt_date_time as date)                    as appointment_date,
        appointments.apt_status,
        appointments.apt_status_code,
        case appointments.apt_status
            when 0 then 'none'
            when 1 then 'scheduled'
            when 2 then 'complete'
            when 3 then 'unscheduled_list'
            when 4 then 'asap'
            when 5 then 'broken'
            when 6 then 'planned'
            when 7 then 'patient_note'
            when 8 then 'patient_note_completed'
            else 'unknown'
        end                                                         as apt_status_name,
        appointments.is_hygiene                                      as is_hygiene,
        appointments.is_new_patient                                  as is_new_patient,
        5 * length(coalesce(appointments.pattern, ''))              as scheduled_minutes,
        case
            when appointments.apt_status = 2
                and appointments.date_time_seated is not null
                and appointments.date_time_dismissed > appointments.date_time_seated
            then cast(extract(epoch from appointments.date_time_dismissed
                              - appointments.date_time_seated) / 60 as integer)
            when appointments.apt_status = 2
            then 5 * length(coalesce(appointments.pattern, ''))
            else 0
        end                                                         as used_minutes,
        appointments.apt_status = 5 and missed.apt_num is not null as is_no_show,
        excluded_clinics.clinic_num is not null                     as is_clinic_ins_verify_excluded
    from appointments
    left join missed
        on appointments.apt_num = missed.apt_num
    left join excluded_clinics
        on appointments.clinic_num = excluded_clinics.clinic_num

)

select * from final
