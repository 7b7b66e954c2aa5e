{#- The first day of OpenDental's time-card week holding date_expr: weeks start on first_day_expr, the
    preference TimeCardOvertimeFirstDayOfWeek as .NET's DayOfWeek (0 Sunday .. 6 Saturday, as PostgreSQL's
    extract(dow) numbers them; TimeCardRules.CalculateWeeklyOvertime). A date. -#}
{% macro time_card_week_start(date_expr, first_day_expr) -%}
    ({{ date_expr }} - mod(cast(extract(dow from {{ date_expr }}) as integer) - {{ first_day_expr }} + 7, 7))
{%- endmacro %}
