-- Hygiene retention per month and clinic (grain: month, clinic_id), from completed hygiene
-- appointments (appointment.IsHygiene, AptStatus 2):
--   active_hygiene_patients: patients with a completed hygiene visit in the 18 months ending with the
--     month, counted at the clinic of their latest such visit;
--   recall_due: hygiene visits whose recall falls due in the month, due = visit date + the recall
--     interval (var hygiene_recall_months, default 6, OpenDental's default prophy interval). As
--     OpenDental's recall moves with each visit (recall.DatePrevious), a visit followed by the next one
--     earlier than due - var hygiene_recall_grace_days (default 30) has no recall of its own: the next
--     visit's recall replaces it (visits a month apart are one recall, not two);
--   recall_compliant: of those, the ones followed by the patient's next completed hygiene visit no
--     later than due + the grace days;
--   compliance_rate = recall_compliant / recall_due.
-- Months run from the first hygiene visit to the run's as-of date (run setting as_of_date, default today). The
-- last month's compliance can still rise while its grace period runs.

{%- set interval_months = var('hygiene_recall_months', 6) %}
{%- set grace_days = var('hygiene_recall_grace_days', 30) %}

with visits as (

    select
        appointment_id,
        patient_id,
        coalesce(clinic_id, 0)                                      as clinic_id,
        appointment_date                                            as visit_date
    from {{ ref('int_appointments') }}
    where is_hygiene
        and apt_status = 2
        and appointment_date is not null

),

run_date as (

    select {{ as_of_date() }} as as_of_date

),

-- materialized: each month's bounds are computed once, not once per month and visit in latest_visit
months as materialized (

    select cast(month_start as date) as month,
           cast(month_start + interval '1 month' - interval '1 day' as date) as month_end,
           cast(cast(month_start + interval '1 month' - interval '1 day' as date) - interval '18 months' as date)
               as window_start
    from run_date
    cross join lateral generate_series(
        (select date_trunc('month', min(visit_date)) from visits),
        date_trunc('month', run_date.as_of_date),
        interval '1 month'
    ) as month_start

),

sequenced as (

    select
        visits.*,
        cast(visit_date + interval '{{ interval_months }} months' as date) as due_date,
        lead(visit_date) over (partition by patient_id order by visit_date, appointment_id) as next_visit_date
    from visits

),

latest_visit as (

    select distinct on (months.month, visits.patient_id)
        months.month,
        visits.patient_id,
        visits.clinic_id
    from months
    inner join visits
        on visits.visit_date <= months.month_end
        and visits.visit_date > months.window_start
    order by months.month, visits.patient_id, visits.visit_date desc, visits.appointment_id desc

),

active as (

    select month, clinic_id, count(*) as active_hygiene_patients
    from latest_visit
    group by 1, 2

),

due as (

    select
        cast(date_trunc('month', due_date) as date)                 as month,
        clinic_id,
        count(*)                                                    as recall_due,
        count(*) filter (where next_visit_date <= due_date + {{ grace_days }}) as recall_compliant
    from sequenced
    where due_date <= (select as_of_date from run_date)
        and (next_visit_date is null or next_visit_date >= due_date - {{ grace_days }})
    group by 1, 2

),

final as (

    select
        coalesce(active.month, due.month)                           as month,
        coalesce(active.clinic_id, due.clinic_id)                   as clinic_id,
        coalesce(active.active_hygiene_patients, 0)                 as active_hygiene_patients,
        coalesce(due.recall_due, 0)                                 as recall_due,
        coalesce(due.recall_compliant, 0)                           as recall_compliant,
        cast(due.recall_compliant::numeric / nullif(due.recall_due, 0) as numeric(7, 4)) as compliance_rate
    from active
    full outer join due
        on active.month = due.month
        and active.clinic_id = due.clinic_id

)

select * from final
