-- Patient scores (grain: patient_id), as of the run's as-of date (run setting as_of_date, default today), each
-- on a 0-100 scale (higher is better) and NULL when the patient has no history for it. Windows look back
-- from the as-of date and only at rows dated on or before it.
--   appointment_reliability  100 x completed / (completed + broken) appointments in the last 24 months;
--   treatment_acceptance     100 x accepted_fee / presented_fee of the procedures with a DateTP in the
--                            last 24 months and status TP, C, D or TPi (ProcStatus 1, 2, 6, 8); accepted =
--                            complete (2), or planned (1) on an appointment (AptNum set). This is the
--                            warehouse's old rule, kept here: mart_treatment_acceptance_monthly now
--                            follows OpenDental's Treatment Plan Presentation report (first presentation
--                            on a saved plan; scheduled = on a Scheduled appointment) and this score does
--                            not (docs/dbt.md, departures table). A negative charge (dirty data: a
--                            negated ProcFee) counts as $0 here, so the score stays in 0-100 whatever
--                            the fees, and a patient whose presented charges are all <= $0 gets NULL.
--                            Broken-appointment charges (D9986, D9987, charted complete when an
--                            appointment is broken: AppointmentL.BreakApptHelper) are not treatment and
--                            are left out, as in fct_treatment_journey: a missed-appointment fee was
--                            "presented" and "accepted" the day it was charged;
--   payment_history          100 x share of the completed procedures of the last 24 months, done at
--                            least 30 days before the as-of date, that were paid in full within 30 days:
--                            fct_treatment_journey's rows whose target_paid_30d is known (true or false).
--                            So only procedures with a charge above $0 count (the target is NULL for a
--                            $0 charge: nothing to collect), and no broken-appointment charge (not a row
--                            of the journey). Counting every completed row instead took a $0 charge as
--                            an unpaid one; reading target_accepted (known after 90 days) left out the
--                            procedures 30-90 days old;
--   engagement               50 x min(1, completed visits in the last 12 months / 2)
--                            + 50 x recency, recency = 1 for a last visit within 6 months, falling
--                            linearly to 0 at 24 months; the last visit is the latest completed
--                            appointment on or before the as-of date, however old, so a patient last seen
--                            more than 24 months ago scores 0 (not NULL, which the overall mean would skip:
--                            a more lapsed patient would score higher); NULL only for a patient with no
--                            completed appointment at all (never seen: no history, not a lapse);
--   family_reliability       appointment_reliability computed over the whole family (patient.Guarantor);
--   overall_score            the mean of the scores that are not NULL.

with run_date as (

    select {{ as_of_date() }} as as_of_date

),

patients as (

    select * from {{ ref('int_patients') }}

),

appointments as (

    -- completed and broken appointments up to the as-of date, however old (the last visit); the counts
    -- take the last 24 months (in_window)
    select
        appointments.*,
        appointments.appointment_date > run_date.as_of_date - interval '24 months' as in_window
    from {{ ref('int_appointments') }} as appointments
    cross join run_date
    where appointments.appointment_date <= run_date.as_of_date
        and appointments.apt_status in (2, 5)

),

appointment_stats as (

    select
        patient_id,
        count(*) filter (where apt_status = 2 and in_window)        as completed,
        count(*) filter (where apt_status = 5 and in_window)        as broken,
        count(*) filter (where apt_status = 2
            and appointment_date > (select as_of_date from run_date) - interval '12 months') as completed_12m,
        max(appointment_date) filter (where apt_status = 2)        as last_visit_date
    from appointments
    group by 1

),

family_stats as (

    select
        patients.guarantor_id,
        sum(appointment_stats.completed)                            as completed,
        sum(appointment_stats.broken)                               as broken
    from appointment_stats
    inner join patients
        on appointment_stats.patient_id = patients.patient_id
    group by 1

),

presented as (

    select
        procedures.patient_id,
        sum(greatest(procedures.procedure_charge, 0))               as presented_fee,
        sum(greatest(procedures.procedure_charge, 0)) filter (where procedures.proc_status = 2
            or (procedures.proc_status = 1 and coalesce(procedures.appointment_id, 0) <> 0)) as accepted_fee
    from {{ ref('int_procedures') }} as procedures
    cross join run_date
    where procedures.date_tp <= run_date.as_of_date
        and procedures.date_tp > run_date.as_of_date - interval '24 months'
        and procedures.proc_status in (1, 2, 6, 8)
        -- not treatment: broken-appointment charges (header; fct_treatment_journey's `procedures`)
        and coalesce(procedures.procedure_code, '') not in ('D9986', 'D9987')
    group by 1

),

payments as (

    select
        journey.patient_id,
        count(*)                                                    as completed_procedures,
        count(*) filter (where journey.target_paid_30d)             as paid_within_30d
    from {{ ref('fct_treatment_journey') }} as journey
    cross join run_date
    -- a known target_paid_30d: completed, charged above $0 and done 30 days ago or more (header)
    where journey.target_paid_30d is not null
        and journey.procedure_date <= run_date.as_of_date - 30
        and journey.procedure_date > run_date.as_of_date - interval '24 months'
    group by 1

),

scored as (

    select
        patients.patient_id,
        patients.guarantor_id,
        100.0 * appointment_stats.completed
            / nullif(appointment_stats.completed + appointment_stats.broken, 0) as appointment_reliability,
        100.0 * coalesce(presented.accepted_fee, 0) / nullif(presented.presented_fee, 0) as treatment_acceptance,
        100.0 * payments.paid_within_30d / nullif(payments.completed_procedures, 0) as payment_history,
        case when appointment_stats.last_visit_date is not null then
            50.0 * least(1.0, appointment_stats.completed_12m / 2.0)
            + 50.0 * greatest(0.0, least(1.0,
                1.0 - ((select as_of_date from run_date) - appointment_stats.last_visit_date - 183) / 547.0))
        end                                                         as engagement,
        100.0 * family_stats.completed / nullif(family_stats.completed + family_stats.broken, 0) as family_reliability
    from patients
    left join appointment_stats
        on patients.patient_id = appointment_stats.patient_id
    left join family_stats
        on patients.guarantor_id = family_stats.guarantor_id
    left join presented
        on patients.patient_id = presented.patient_id
    left join payments
        on patients.patient_id = payments.patient_id

),

final as (

    select
        patient_id,
        guarantor_id,
        (select as_of_date from run_date)                           as as_of_date,
        cast(appointment_reliability as numeric(5, 1))              as appointment_reliability,
        cast(treatment_acceptance as numeric(5, 1))                 as treatment_acceptance,
        cast(payment_history as numeric(5, 1))                      as payment_history,
        cast(engagement as numeric(5, 1))                           as engagement,
        cast(family_reliability as numeric(5, 1))                   as family_reliability,
        cast((coalesce(appointment_reliability, 0) + coalesce(treatment_acceptance, 0)
              + coalesce(payment_history, 0) + coalesce(engagement, 0) + coalesce(family_reliability, 0))
             / nullif((appointment_reliability is not null)::int + (treatment_acceptance is not null)::int
                      + (payment_history is not null)::int + (engagement is not null)::int
                      + (family_reliability is not null)::int, 0) as numeric(5, 1)) as overall_score
    from scored

)

select * from final
