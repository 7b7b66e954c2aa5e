{#-
    The age band of an age in whole years (an integer expression): '0-12', '13-17', '18-34', '35-49',
    '50-64', '65-79', '80-89', '90+'. Ages over 89 share one band (HIPAA Safe Harbor), so a mart never
    holds an exact age above 89. NULL stays NULL.
-#}
{% macro age_band(age_years) -%}
    case
        when ({{ age_years }}) is null then null
        when ({{ age_years }}) < 13 then '0-12'
        when ({{ age_years }}) < 18 then '13-17'
        when ({{ age_years }}) < 35 then '18-34'
        when ({{ age_years }}) < 50 then '35-49'
        when ({{ age_years }}) < 65 then '50-64'
        when ({{ age_years }}) < 80 then '65-79'
        when ({{ age_years }}) < 90 then '80-89'
        else '90+'
    end
{%- endmacro %}
