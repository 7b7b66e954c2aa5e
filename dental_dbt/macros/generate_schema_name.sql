{#-
    Models land in the schema their folder names with `+schema` (staging, intermediate, marts) exactly,
    not dbt's default `<target schema>_<custom schema>`. Anything without a custom schema goes to the
    target's schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
