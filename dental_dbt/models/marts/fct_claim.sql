-- One row per insurance claim (claim.ClaimNum), in dollars and days: billed fee, estimate, payment and
-- write-off (the claim's own totals, claim.ClaimFee, InsPayEst, InsPayAmt, WriteOff), the carrier of its
-- plan, and days from service to sending and from sending to receipt (of a received claim).
-- Reads int_claims (System B), where the type, status and days are defined.
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

    select * from {{ ref('int_claims') }}
    where {{ in_date_window('date_service') }}

),

final as (

    select
        claim_id,
        patient_id,
        insurance_plan_id,
        carrier_id,
        clinic_id,
        provider_id,
        claim_type,
        claim_status,
        date_service,
        date_sent,
        date_received,
        days_to_send,
        days_to_payment,
        billed_fee                                                  as claim_fee,
        estimate                                                    as ins_pay_est,
        paid                                                        as ins_pay_amt,
        write_off
    from claims

)

select * from final
