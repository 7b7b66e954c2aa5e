-- fct_treatment_journey: each target is defined exactly from its known day on (the run's as-of date
-- minus macros/journey_known_days.sql) and NULL before; target_accepted is the completion (ProcStatus
-- 2, read from int_procedures); the payment targets are defined exactly for completed procedures with a
-- charge above $0 (nothing to collect otherwise: docs/journey.md), the insurance one at most for completed
-- procedures; a procedure paid within 30 days is fully paid. Returns the procedures that break a rule.

{{ config(meta={'dagster': {'ref': {'name': 'fct_treatment_journey'}}}) }}

{%- set as_of = run_setting('as_of_date') %}
{%- set targets = ['target_accepted', 'target_fully_paid', 'target_paid_30d', 'target_insurance_accurate'] %}

with run_date as (

    select {% if as_of %}cast('{{ as_of }}' as date){% else %}current_date{% endif %} as as_of_date

),

journey as (

    select
        journey.*,
        procedures.proc_status = 2                                  as is_completed,
        coalesce(journey.procedure_charge > 0, false)               as has_charge,
        {%- for target in targets %}
        coalesce(journey.procedure_date <= run_date.as_of_date - {{ journey_known_days(target) }}, false)
                                                                    as {{ target }}_known{{ "," if not loop.last }}
        {%- endfor %}
    from {{ ref('fct_treatment_journey') }} as journey
    inner join {{ ref('int_procedures') }} as procedures
        on journey.procedure_id = procedures.procedure_id
    cross join run_date

)

select
    procedure_id,
    target_accepted,
    target_fully_paid,
    target_paid_30d
from journey
where (target_accepted is not null) <> target_accepted_known
    or target_accepted <> is_completed
    or (target_fully_paid is not null) <> (is_completed and has_charge and target_fully_paid_known)
    or (target_paid_30d is not null) <> (is_completed and has_charge and target_paid_30d_known)
    or (target_insurance_accurate is not null and not (is_completed and target_insurance_accurate_known))
    or (target_paid_30d and not target_fully_paid)
