-- fct_treatment_journey: the payment targets are defined exactly for accepted (completed) procedures,
-- and a procedure paid within 30 days is fully paid. Returns the procedures that break a rule.

{{ config(meta={'dagster': {'ref': {'name': 'fct_treatment_journey'}}}) }}

select
    procedure_id,
    target_accepted,
    target_fully_paid,
    target_paid_30d
from {{ ref('fct_treatment_journey') }}
where (target_fully_paid is not null) <> target_accepted
    or (target_paid_30d is not null) <> target_accepted
    or (target_insurance_accurate is not null and not target_accepted)
    or (target_paid_30d and not target_fully_paid)
