{#-
    OpenDental writes "no date" as a sentinel instead of NULL: 0001-01-01 (MySQL's zero date arrives in
    the raw layer as NULL or 0001-01-01), 1900-01-01 in some older tables, and occasionally other
    impossible early dates. Returns the column's value, or NULL for 1900-01-01 and anything before
    1880-01-01. Works on date, timestamp (datetime) columns; keeps the column's type.
-#}
{% macro clean_date(column) -%}
    case when cast({{ column }} as date) < date '1880-01-01' or cast({{ column }} as date) = date '1900-01-01' then null else {{ column }} end
{%- endmacro %}
