{#-
    Orphan references of OpenDental rows, for mart_data_exceptions: one CTE per entry of `references`
    (named `orphan_<table>_<column>`, lower-case), each selecting exception_kind 'orphan_reference', the
    OpenDental table and column, the row's primary key and the handling text, for every row whose key
    column is not NULL (OpenDental's 0 is NULL from staging on) and names no row of the parent. The same
    comparison as the `foreign_key` test (tests/generic/foreign_key.sql), made on staging, so the list
    builds whatever those tests find (docs/dbt.md, "Foreign keys"). A key stored as 0 is not compared here:
    mart_data_exceptions lists it as missing_key where a mart leaves its row out for it.
    An entry: {table, column: OpenDental's names; model: the staging model of the table; key: its primary
    key column; fk: the referencing column; parent, parent_key: the staging model and column referenced;
    where (optional): a condition on the child row (e.g. insverifyhist's VerifyType); handling: what the
    marts do with the row}.
    orphan_reference_ctes(references) writes the CTEs, each followed by a comma;
    orphan_reference_union(references) writes `union all select * from <cte>` for each.
-#}
{% macro orphan_reference_cte_name(reference) -%}
    orphan_{{ reference.table | lower }}_{{ reference.column | lower }}{{ '_' ~ reference.suffix if reference.suffix }}
{%- endmacro %}

{% macro orphan_reference_ctes(references) %}
{%- for r in references %}
{{ orphan_reference_cte_name(r) }} as (

    select
        'orphan_reference'                                          as exception_kind,
        '{{ r.table }}'                                             as table_name,
        '{{ r.column }}'                                            as column_name,
        child.{{ r.key }}                                           as key_num,
        '{{ r.handling | replace("'", "''") }}'                     as handling
    from {{ ref(r.model) }} as child
    where child.{{ r.fk }} is not null
        {%- if r.where %}
        and ({{ r.where }})
        {%- endif %}
        and not exists (
            select from {{ ref(r.parent) }} as parent
            where parent.{{ r.parent_key }} = child.{{ r.fk }}
        )

),
{% endfor -%}
{% endmacro %}

{% macro orphan_reference_union(references) %}
{%- for r in references %}
    union all select * from {{ orphan_reference_cte_name(r) }}
{%- endfor %}
{% endmacro %}
