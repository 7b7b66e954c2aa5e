{#-
    Referential integrity: fails with one row per value of `column_name` in `model` that no row of `to`
    holds in `field` (with the number of rows holding it). NULL passes: OpenDental's 0 ("none") is NULL
    from staging on. Keys and counts only, never other columns.
    Usage:  data_tests: [{foreign_key: {arguments: {to: "ref('dim_patient')", field: patient_id}}}]
    A `where` config works: dbt then passes `model` as an aliased subquery, hence the wrapping select.
-#}
{% test foreign_key(model, column_name, to, field) %}

select
    child.{{ column_name }}                                         as missing_key,
    count(*)                                                        as row_count
from (select * from {{ model }}) as child
left join {{ to }} as parent
    on child.{{ column_name }} = parent.{{ field }}
where child.{{ column_name }} is not null
    and parent.{{ field }} is null
group by 1

{% endtest %}
