-- One row per appointment (appointment.AptNum), every status, with chair minutes and no-show flag.
-- Incremental, partitioned monthly in Dagster by appointment_date (appointment.AptDateTime): a run with the vars min_date/max_date
-- (dental_assets.partitions.dbt_window_vars) replaces that window only; without vars, every row.

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='appointment_id',
        on_schema_change='fail',
        pre_hook="{{ delete_date_window('appointment_date') }}",
        indexes=[{'columns': ['appointment_id'], 'unique': True}, {'columns': ['appointment_date']}],
    )
}}

select * from {{ ref('int_appointments') }}
where {{ in_date_window('appointment_date') }}
