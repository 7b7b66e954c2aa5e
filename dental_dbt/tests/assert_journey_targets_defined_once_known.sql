-- fct_treatment_journey: each target is defined exactly from its known day on (the run's as-of date
-- minus macros/journey_known_days.sql) and NULL before; the payment targets exactly for accepted
-- (completed) procedures; a procedure paid within 30 days is fully paid. Returns the procedures that
-- break a rule.

{{ config(meta={'dagster': {'ref': {'name': 'fct_treatment_journey'}}}) }}

{%- set as_of = run_setting('as_of_date') %}

with run_date as (

    select {% if as_of %}cast('{{ as_of }}' as date){% else %}current_date{% endif %} as as_of_date

),

journey as (

    select
        journey.*,
        journey.procedure_date <= run_date.as_of_date - {{ journey_known_days('target_accepted') }} as accepted_known,
        journey.procedure_date <= run_date.as_of_date - {{ journey_known_days('target_paid_30d') }} as paid_30d_known
    from {{ ref('fct_treatment_journey') }} as journey
    cross join run_date

)

select
    procedure_id,
    target_accepted,
    target_fully_paid,
    target_paid_30d
from journey
where (target_accepted is not null) <> coalesce(accepted_known, false)
    or (target_fully_paid is not null) <> coalesce(target_accepted, false)
    or (target_paid_30d is not null and not paid_30d_known)
    or (target_insurance_accurate is not null and not coalesce(target_accepted, false))
    or (target_paid_30d and not target_fully_paid)
