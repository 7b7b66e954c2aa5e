{#-
    A patient's age in whole years in the year of `on_date`: year(on_date) - year(birthdate), the age reached
    that year, 90 for 90 and older (HIPAA Safe Harbor: no exact age above 89). It changes on January 1, not on
    the birthday, so a patient's rows next to exact dates reveal the year of birth only, which Safe Harbor
    allows (an age on the day brackets the birthday: 12 of 4,510 demo patients' birth dates were recovered
    to the day that way). NULL for a NULL birthdate (OpenDental's sentinel) or date, or a birth year after
    the date's year. Used by fct_treatment_journey and fct_appointment_outcomes.
-#}
{% macro age_in_year(birthdate, on_date) -%}
    case
        when extract(year from {{ birthdate }}) <= extract(year from {{ on_date }})
            then least(90, cast(extract(year from {{ on_date }}) - extract(year from {{ birthdate }}) as integer))
    end
{%- endmacro %}
