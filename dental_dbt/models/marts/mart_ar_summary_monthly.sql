-- Accounts receivable for the AR dashboard, per month (grain: month), in dollars: the practice's AR at
-- the month's last aging date in mart_ar_aging (the month end, OpenDental's historic aging, or the run's
-- as-of date for the current month), as OpenDental 24.3 totals it under its defaults; the month's net
-- production and collections; collection_rate = total_collections / net_production of the month.
--   balance_0_30 .. balance_over_90  the families' buckets summed (a family in credit has all four 0);
--   total_balance     the four buckets summed: the AR dashboard's figure (DashboardQueries.GetAR:
--                     "SUM(Bal_0_30+Bal_31_60+Bal_61_90+BalOver90)", TableTypes/DashboardAR.cs: "Negative
--                     BalTotals are credits, not A/R"), and the Aging of A/R report's BalTotal total under
--                     its defaults (Reports/RpAging.cs GetQueryString lists a family only when a bucket is
--                     >= 0.005; negative balances only with IsIncludeNeg, unchecked by default in
--                     FormRpAging). The two differ only for a family with transactions dated after the run
--                     date (BalTotal counts them, the buckets do not; OpenDental allows them only with
--                     FutureTransDatesAllowed);
--   credit_balance    the total_balance of the families in credit (no bucket above 0, total_balance < 0),
--                     negative: what the Aging report adds with "Negative balances" checked
--                     (IsIncludeNeg, "BalTotal <= -0.005"). Kept in its own column, so the credits are
--                     not lost, and never netted into total_balance;
--   insurance_responsibility, patient_responsibility  over the families the report lists under its
--                     defaults (a bucket above 0): the totals of its insurance estimate columns
--                     (InsPayEst + InsWoEst, mart_ar_aging.insurance_estimate) and of its patient column
--                     ("BalTotal-InsPayEst-InsWoEst", mart_ar_aging.patient_portion). They add up to
--                     total_balance but for the future-dated transactions above. The estimates of families
--                     not in A/R (in credit, or at 0 with insurance pending: listed by the report only with
--                     IsIncludeNeg / IsIncludeInsNoBal) are not in them; mart_ar_aging has them per family.
-- A family whose guarantor has no patient row is not in mart_ar_aging, as the Aging of A/R report leaves
-- it out (RpAging.GetQueryString: INNER JOIN patient on the guarantor), so it is in none of these
-- figures; OpenDental's AR dashboard (DashboardQueries.GetAR, over Ledgers.GetAgingQueryString without
-- that join) still adds its buckets (docs/dbt.md, "The other marts against OpenDental's own reports").
-- net_production and total_collections are mart_production_daily's and mart_collections_daily's daily
-- figures (OpenDental's daily Production and Income report, RpProdInc.GetDailyProdIncDataSet) summed over
-- the month, not OpenDental's monthly Production and Income report, whose total production also adds the
-- production scheduled in the month (RpProdInc.GetMonthlyData: totalproduction=production+adjust+
-- inswriteoff+sched).

with aging as (

    select
        cast(date_trunc('month', as_of_date) as date)               as month,
        balance_0_30,
        balance_31_60,
        balance_61_90,
        balance_over_90,
        total_balance,
        insurance_estimate,
        patient_portion,
        -- RpAging's default filter: a bucket of at least half a cent (amounts here are whole cents)
        (balance_0_30 >= 0.005 or balance_31_60 >= 0.005 or balance_61_90 >= 0.005
            or balance_over_90 >= 0.005)                            as is_in_ar,
        -- RpAging's IsIncludeNeg: "guarAging.BalTotal <= -0.005"
        total_balance <= -0.005                                     as is_in_credit
    from {{ ref('mart_ar_aging') }}

),

monthly_aging as (

    select
        month,
        sum(balance_0_30)                                           as balance_0_30,
        sum(balance_31_60)                                          as balance_31_60,
        sum(balance_61_90)                                          as balance_61_90,
        sum(balance_over_90)                                        as balance_over_90,
        sum(balance_0_30 + balance_31_60 + balance_61_90 + balance_over_90) as total_balance,
        coalesce(sum(total_balance) filter (where is_in_credit and not is_in_ar), 0) as credit_balance,
        coalesce(sum(insurance_estimate) filter (where is_in_ar), 0) as insurance_responsibility,
        coalesce(sum(patient_portion) filter (where is_in_ar), 0)   as patient_responsibility
    from aging
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
        monthly_aging.month,
        cast(monthly_aging.balance_0_30 as numeric(14, 2))          as balance_0_30,
        cast(monthly_aging.balance_31_60 as numeric(14, 2))         as balance_31_60,
        cast(monthly_aging.balance_61_90 as numeric(14, 2))         as balance_61_90,
        cast(monthly_aging.balance_over_90 as numeric(14, 2))       as balance_over_90,
        cast(monthly_aging.total_balance as numeric(14, 2))         as total_balance,
        cast(monthly_aging.credit_balance as numeric(14, 2))        as credit_balance,
        cast(monthly_aging.insurance_responsibility as numeric(14, 2)) as insurance_responsibility,
        cast(monthly_aging.patient_responsibility as numeric(14, 2)) as patient_responsibility,
        cast(coalesce(production.net_production, 0) as numeric(14, 2))      as net_production,
        cast(coalesce(collections.total_collections, 0) as numeric(14, 2))  as total_collections,
        cast(collections.total_collections / nullif(production.net_production, 0) as numeric(9, 4))
                                                                    as collection_rate
    from monthly_aging
    left join production
        on monthly_aging.month = production.month
    left join collections
        on monthly_aging.month = collections.month

)

select * from final
