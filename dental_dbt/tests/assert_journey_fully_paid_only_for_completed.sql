-- fct_treatment_journey: target_fully_paid is set exactly for completed procedures (ProcStatus 2) and
-- target_accepted is true exactly for them. Returns the procedures that break either rule.

{{ config(meta={'dagster': {'ref': {'name': 'fct_treatment_journey'}}}) }}

select
    procedure_id,
    proc_status,
    target_accepted,
    target_fully_paid
from {{ ref('fct_treatment_journey') }}
where (proc_status = 2) <> (target_fully_paid is not null)
    or (proc_status = 2) <> target_accepted
