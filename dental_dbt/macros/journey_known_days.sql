{#- Days after its procedure date a target of fct_treatment_journey is known: a procedure dated later than
    the run's as-of date minus these has the target NULL (not yet known), not false. Acceptance: a plan
    still open 90 days after its date was declined; payment: insurance and the family's payments are in
    by then; paid within 30 days: the 30 days have passed. -#}
{% macro journey_known_days(target) -%}
{{ return({
    'target_accepted': 90,
    'target_fully_paid': 90,
    'target_paid_30d': 30,
    'target_insurance_accurate': 90,
}[target]) }}
{%- endmacro %}
