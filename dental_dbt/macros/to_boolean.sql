{#-
    OpenDental stores C# bools in tinyint columns as 0/1 and reads any non-zero value as true.
    Returns a real boolean: false for 0, true for any other value, NULL for NULL.
-#}
{% macro to_boolean(column) -%}
    ({{ column }} <> 0)
{%- endmacro %}
