-- One row per patient payment (payment.PayNum), in dollars: the amount received (payment.PayAmt),
-- the total of its splits (paysplit.SplitAmt) and their count. Income transfers are payments of $0
-- whose splits net to zero.

with payments as (

    select * from {{ ref('stg_opendental__payment') }}

),

splits as (

    select
        pay_num,
        count(*)                                                    as split_count,
        sum(cast(coalesce(split_amt, 0) as numeric(14, 2)))         as split_total
    from {{ ref('stg_opendental__paysplit') }}
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
