-- One row per insurance claim (claim.ClaimNum), in dollars and days: billed fee, estimate, payment and
-- write-off, the carrier of its plan, and days from service to sending and sending to receipt.
-- Incremental, partitioned monthly in Dagster by date_service (claim.DateService): a run with the vars min_date/max_date
-- (dental_assets.partitions.dbt_window_vars) replaces that window only; without vars, every row.

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='claim_id',
        on_schema_change='fail',
        pre_hook="{{ delete_date_window('date_service') }}",
        indexes=[{'columns': ['claim_id'], 'unique': True}, {'columns': ['date_service']}],
    )
}}

with claims as (

    select * from {{ ref('stg_opendental__claim') }}
    where {{ in_date_window('date_service') }}

),

plans as (

    select * from {{ ref('stg_opendental__insplan') }}

),

final as (

    select
        claims.claim_num                                            as claim_id,
        claims.pat_num                                              as patient_id,
        claims.plan_num                                             as insurance_plan_id,
        plans.carrier_num                                           as carrier_id,
        claims.clinic_num                                           as clinic_id,
        claims.prov_treat                                           as provider_id,
        claims.claim_type,
        claims.claim_status,
        claims.date_service,
        claims.date_sent,
        claims.date_received,
        claims.date_sent - claims.date_service                      as days_to_send,
        claims.date_received - claims.date_sent                     as days_to_payment,
        cast(coalesce(claims.claim_fee, 0) as numeric(14, 2))       as claim_fee,
        cast(coalesce(claims.ins_pay_est, 0) as numeric(14, 2))     as ins_pay_est,
        cast(coalesce(claims.ins_pay_amt, 0) as numeric(14, 2))     as ins_pay_amt,
        cast(coalesce(claims.write_off, 0) as numeric(14, 2))       as write_off
    from claims
    left join plans
        on claims.plan_num = plans.plan_num

)

select * from final
