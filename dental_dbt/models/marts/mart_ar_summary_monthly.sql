-- Accounts receivable for the AR dashboard, per month (grain: month), in dollars: the practice's AR at
-- the month's last aging date (the month end, or the run's as-of date for the current month) split into
-- aging buckets and into insurance versus patient responsibility; the month's net production and
-- collections; collection_rate = total_collections / net_production of the month.

with aging as (

    select
        cast(date_trunc('month', as_of_date) as date)               as month,
        sum(balance_0_30)                                           as balance_0_30,
        sum(balance_31_60)                                          as balance_31_60,
        sum(balance_61_90)                                          as balance_61_90,
        sum(balance_over_90)                                        as balance_over_90,
        sum(total_balance)                                          as total_balance,
        sum(insurance_estimate)                                     as insurance_estimate,
        sum(patient_portion)                                        as patient_portion
    from {{ ref('mart_ar_aging') }}
    group by 1

),

production as (

    select cast(date_trunc('month', production_date) as date) as month, sum(net_production) as net_production
    from {{ ref('mart_production_daily') }}
    group by 1

),

collections as (

    select cast(date_trunc('month', collection_date) as date) as month, sum(total_collections) as total_collections
    from {{ ref('mart_collections_daily') }}
    group by 1

),

final as (

    select
        aging.month,
        cast(aging.balance_0_30 as numeric(14, 2))                  as balance_0_30,
        cast(aging.balance_31_60 as numeric(14, 2))                 as balance_31_60,
        cast(aging.balance_61_90 as numeric(14, 2))                 as balance_61_90,
        cast(aging.balance_over_90 as numeric(14, 2))               as balance_over_90,
        cast(aging.total_balance as numeric(14, 2))                 as total_balance,
        cast(aging.insurance_estimate as numeric(14, 2))            as insurance_responsibility,
        cast(aging.patient_portion as numeric(14, 2))               as patient_responsibility,
        cast(coalesce(production.net_production, 0) as numeric(14, 2))      as net_production,
        cast(coalesce(collections.total_collections, 0) as numeric(14, 2))  as total_collections,
        cast(collections.total_collections / nullif(production.net_production, 0) as numeric(9, 4))
                                                                    as collection_rate
    from aging
    left join production
        on aging.month = production.month
    left join collections
        on aging.month = collections.month

)

select * from final
