-- One row per procedure (procedurelog.ProcNum), every status, with its charge in dollars
-- (ProcFee x (UnitQty + BaseUnits), computed once in int_procedures).
-- Incremental, partitioned monthly in Dagster by procedure_date (procedurelog.ProcDate): a run with the vars min_date/max_date
-- (dental_assets.partitions.dbt_window_vars) replaces that window only; without vars, every row.

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='procedure_id',
        on_schema_change='fail',
        pre_hook="{{ delete_date_window('procedure_date') }}",
        indexes=[{'columns': ['procedure_id'], 'unique': True}, {'columns': ['procedure_date']}],
    )
}}

select
    procedure_id,
    patient_id,
    appointment_id,
    clinic_id,
    provider_id,
    code_id,
    procedure_code,
    code_category,
    procedure_date,
    date_tp,
    proc_status,
    proc_status_name,
    proc_fee,
    unit_qty,
    base_units,
    procedure_charge
from {{ ref('int_procedures') }}
where {{ in_date_window('procedure_date') }}
