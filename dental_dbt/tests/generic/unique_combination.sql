{#-
    Fails with one row per duplicated combination of `column_names` in `model` (NULLs compare equal, so
    two rows that only differ by NULL in the same column count as duplicates).
    Usage:  data_tests: [{unique_combination: {arguments: {column_names: [a, b]}}}]
-#}
{% test unique_combination(model, column_names) %}

with grouped as (

    select
        {{ column_names | join(', ') }},
        count(*) as row_count
    from {{ model }}
    group by {{ column_names | join(', ') }}

)

select * from grouped
where row_count > 1

{% endtest %}
