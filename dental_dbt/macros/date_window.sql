{#-
    The date window of an incremental run, from the run settings `min_date` and `max_date` (ISO dates,
    `max_date` exclusive; `run_setting`: the vars, else DENTAL_DBT_MIN_DATE and DENTAL_DBT_MAX_DATE),
    as dental_assets.partitions.dbt_window_vars writes them for a range of monthly partitions.
    `0001-01-01` as `min_date` means "open below": the window then also holds rows whose date is NULL
    (OpenDental's sentinels, NULL in staging), as the first monthly partition holds them in raw.
    `9999-12-31` as `max_date` means "open above".

    Without either setting the window is everything (a full build). Raises a compiler error when only one
    of the two is given, when one is not an ISO date, or when min_date >= max_date.
-#}
{% macro date_window() -%}
    {%- set lo = run_setting('min_date') -%}
    {%- set hi = run_setting('max_date') -%}
    {%- if lo is none and hi is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if lo is none or hi is none -%}
        {{ exceptions.raise_compiler_error("date window: give both vars min_date and max_date, or neither (got min_date=" ~ lo ~ ", max_date=" ~ hi ~ ")") }}
    {%- endif -%}
    {%- set parsed = [] -%}
    {%- for value in [lo, hi] -%}
        {%- set text = value | string -%}
        {%- if not modules.re.match('^\d{4}-\d{2}-\d{2}$', text) -%}
            {{ exceptions.raise_compiler_error("date window: " ~ text ~ " is not an ISO date (YYYY-MM-DD)") }}
        {%- endif -%}
        {%- do parsed.append(modules.datetime.datetime.strptime(text, '%Y-%m-%d').date()) -%}
    {%- endfor -%}
    {%- if parsed[0] >= parsed[1] -%}
        {{ exceptions.raise_compiler_error("date window: min_date " ~ lo ~ " is not before max_date " ~ hi) }}
    {%- endif -%}
    {{ return({'min_date': parsed[0].isoformat(), 'max_date': parsed[1].isoformat()}) }}
{%- endmacro %}


{#-
    A predicate selecting the rows of the run's date window (see date_window) by `column` (a date, or a
    timestamp compared at midnight). TRUE when no window is given.
-#}
{% macro in_date_window(column) -%}
    {%- set window = date_window() -%}
    {%- if window is none -%}
        true
    {%- else -%}
        (({{ column }} >= date '{{ window.min_date }}'{% if window.min_date == '0001-01-01' %} or {{ column }} is null{% endif %})
         and ({{ column }} < date '{{ window.max_date }}' or {{ column }} is null))
    {%- endif -%}
{%- endmacro %}


{#-
    Pre-hook of an incremental fact model: when the table exists, delete the rows of the run's window
    (by `column`) in the run's transaction, before dbt's delete+insert on the unique key. Together they
    replace the window: rows hard-deleted in OpenDental leave it, rows whose date moved into it replace
    their old copy. Without a window var the whole table is replaced. Renders nothing on a first build.
-#}
{% macro delete_date_window(column) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ in_date_window(column) }}
    {%- endif -%}
{%- endmacro %}
