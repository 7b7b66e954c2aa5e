{#-
    Text as OpenDental users meant it: removes the ASCII control characters NUL-BS (0x00-0x08), VT, FF
    (0x0B-0x0C), SO-US (0x0E-0x1F) and DEL (0x7F), which old imports and interfaces leave in notes and
    break exports, CSV files and dashboards. Tab, line feed and carriage return are kept (multi-line
    notes). NUL cannot reach PostgreSQL text (the raw load drops it). NULL stays NULL.
-#}
{% macro strip_control_chars(column) -%}
    regexp_replace({{ column }}, '[\x01-\x08\x0B\x0C\x0E-\x1F\x7F]', '', 'g')
{%- endmacro %}
