-- One row per patient payment (payment.PayNum), in dollars: the amount received (payment.PayAmt),
-- the total of its splits (paysplit.SplitAmt) and their count. Income transfers are payments of $0
-- whose splits net to zero.
-- Incremental, partitioned monthly in Dagster by payment_date (payment.PayDate): a run with the vars min_date/max_date
-- (dental_assets.partitions.dbt_window_vars) replaces that window only; without vars, every row.

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='payment_id',
        on_schema_change='fail',
        pre_hook="{{ delete_date_window('payment_date') }}",
        indexes=[{'columns': ['payment_id'], 'unique': True}, {'columns': ['payment_date']}],
    )
}}

with payments as (

    select * from {{ ref('stg_opendental__payment') }}
    where {{ in_date_window('pay_date') }}

),

splits as (

    select
        pay_num,
        count(*)                                                    as split_count,
        sum(cast(coalesce(split_amt, 0) as numeric(14, 2)))         as split_total
    from {{ ref('stg_opendental__paysplit') }}
    where pay_num in (select pay_num from payments)
    group by 1

),

final as (

    select
        payments.pay_num                                            as payment_id,
        payments.pat_num                                            as patient_id,
        payments.clinic_num                                         as clinic_id,
        payments.pay_date                                           as payment_date,
        payments.pay_type                                           as payment_type_id,
        cast(coalesce(payments.pay_amt, 0) as numeric(14, 2))       as payment_amount,
        coalesce(splits.split_count, 0)                             as split_count,
        cast(coalesce(splits.split_total, 0) as numeric(14, 2))     as split_total
    from payments
    left join splits
        on payments.pay_num = splits.pay_num

)

select * from final
