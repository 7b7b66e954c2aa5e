{#-
    Fails with one row per value of `columns` (a model's double columns: OpenDental's amounts in
    dollars, and a few measures) whose magnitude is var `max_amount` or more (default 100,000,000):
    the model's `key` and the column's name, never the value. The marts keep dollars as
    numeric(14, 2) (at most $999,999,999,999.99), so such a value, or a sum of such values, would fail
    a mart's build with PostgreSQL's "numeric field overflow", which names no row; this test stops the
    build at staging instead, and its compiled SQL lists the rows to correct in OpenDental. NULLs pass.
    One scan of the model. Generated for every staging model with a double column (dbt_codegen).
    Usage (model level):
        data_tests: [{amounts_in_range: {arguments: {key: proc_num, columns: [proc_fee, discount]}}}]
-#}
{% test amounts_in_range(model, key, columns) %}

select
    {{ key }} as key,
    amounts.column_name
from {{ model }}
cross join lateral (
    values
    {%- for column in columns %}
        ('{{ column }}', {{ column }}){{ "," if not loop.last }}
    {%- endfor %}
) as amounts (column_name, amount)
where abs(amounts.amount) >= {{ var('max_amount', 100000000) }}

{% endtest %}
