-- The no-show training set: one row per booked appointment that reached its day (AptStatus 2 Complete
-- or 5 Broken), with features known before it and the target. Prior counts and the last visit use
-- only the patient's earlier appointments (strictly earlier start time): two appointments of a patient
-- at the same time do not see each other (the frame ends before the current row's peers, EXCLUDE GROUP).
--   patient_age_years  the appointment's year minus patient.Birthdate's year (the age reached in that year),
--                      90 for 90 and over (HIPAA Safe Harbor: no exact age above 89 in a mart), NULL for a
--                      sentinel birthdate or one in a later year. Not the age on the day: next to the exact
--                      appointment dates, the day an age in whole years goes up brackets the birthday (12 of
--                      4,510 demo patients' birth dates were recovered exactly that way); the year's age
--                      reveals the birth year only, which Safe Harbor allows.
--   target_no_show  the appointment was broken (AptStatus 5): a no-show or a late cancellation, either way
--                   the chair time lost. The narrower no-show alone (broken with D9986, a Missed history
--                   entry) is int_appointments.is_no_show.

with appointments as (

    select * from {{ ref('int_appointments') }}
    where apt_status in (2, 5)
        and appointment_at is not null

),

ordered as (

    select
        appointments.*,
        count(*) filter (where apt_status = 2) over earlier         as prior_completed_count,
        count(*) filter (where apt_status = 5) over earlier         as prior_broken_count,
        max(appointment_date) filter (where apt_status = 2) over earlier as last_visit_date
    from appointments
    window earlier as (
        partition by patient_id order by appointment_at
        range between unbounded preceding and current row exclude group
    )

),

final as (

    select
        ordered.appointment_id,
        ordered.patient_id,
        ordered.clinic_id,
        ordered.provider_id,
        ordered.appointment_date,
        cast(extract(year from ordered.appointment_date) as integer) as appointment_year,
        cast(extract(hour from ordered.appointment_at) as integer)  as hour_of_day,
        cast(extract(isodow from ordered.appointment_at) as integer) as iso_day_of_week,
        ordered.is_hygiene,
        ordered.is_new_patient,
        ordered.scheduled_minutes,
        ordered.prior_completed_count,
        ordered.prior_broken_count,
        ordered.appointment_date - ordered.last_visit_date          as days_since_last_visit,
        {{ age_in_year('patients.birthdate', 'ordered.appointment_date') }} as patient_age_years,
        ordered.apt_status = 5                                      as target_no_show
    from ordered
    left join {{ ref('int_patients') }} as patients
        on ordered.patient_id = patients.patient_id

)

select * from final
