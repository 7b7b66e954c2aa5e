{#-
    OpenDental stores "no row" in an integer foreign key as 0 (e.g. procedurelog.AptNum = 0 for a
    procedure on no appointment). Returns NULL for 0, the value otherwise, so joins and counts treat
    "none" as missing.
-#}
{% macro zero_to_null(column) -%}
    nullif({{ column }}, 0)
{%- endmacro %}
