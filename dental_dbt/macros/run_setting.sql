{#-
    A setting of one run: the var `name` when the run passes it with `--vars`, else the environment
    variable DENTAL_DBT_<NAME> (`name` in upper case) when it is set and not empty, else `default`.
    Values are strings as given (ISO dates for as_of_date, min_date and max_date).

    Dagster's runs and the tests pass the environment variables (dental_assets.defs.dbt.assets
    `run_settings_env`). The variable is read only when the model executes (`execute`), never while
    dbt parses: dbt then keeps its saved parse (target/partial_parse.msgpack) whatever the settings,
    whereas a change of `--vars`, or of a variable read while parsing, makes it parse again (the whole
    project for vars, several seconds). Nothing a setting decides may change a model's refs or
    config, which dbt takes from the parse.
-#}
{% macro run_setting(name, default=none) -%}
    {%- set from_env = env_var('DENTAL_DBT_' ~ (name | upper), '') if execute else '' -%}
    {{ return(var(name, from_env if from_env else default)) }}
{%- endmacro %}

{#-
    The run's as-of date as a SQL date expression: the setting `as_of_date` (an ISO date, cast to date)
    when given, else PostgreSQL's current_date. Models that cut their figures at the as-of date (AR
    aging, open claims, payment plans due, ages...) select it once, in a `run_date` CTE.
-#}
{% macro as_of_date() -%}
    {%- set as_of = run_setting('as_of_date') -%}
    {%- if as_of -%}cast('{{ as_of }}' as date){%- else -%}current_date{%- endif -%}
{%- endmacro %}
