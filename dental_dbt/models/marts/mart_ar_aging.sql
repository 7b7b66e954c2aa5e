-- Accounts receivable aging per family, in dollars (grain: guarantor_id, as_of_date), aged the way
-- OpenDental ages a family:
--   * as_of_date: the run's as-of date (run setting as_of_date, default today) and every month end before it,
--     back to the month of the family's first dated transaction;
--   * charges (positive transactions of int_ar_transactions dated on or before the as-of date) are
--     bucketed by their age in days: 0-30, 31-60, 61-90, over 90 (a transaction without a date counts
--     as the oldest);
--   * credits (negative transactions on or before the as-of date) are applied to the oldest bucket
--     first; total_balance is the signed sum of all transactions (below zero for a family in credit,
--     whose buckets are then all zero);
--   * insurance_estimate: claimprocs pending at the as-of date. At the run's as-of date these are
--     OpenDental's NotReceived claimprocs (Status 0), InsPayEst + WriteOff, as in patient.InsEst. At an
--     earlier month end they are the claimprocs of procedures on or before it that were still not received
--     then (Status 0, or received after it), with their InsPayEst;
--   * patient_portion = total_balance - insurance_estimate.
-- At the run's as-of date the buckets, total and estimate are what OpenDental stores on the guarantor
-- (patient.Bal_0_30, Bal_31_60, Bal_61_90, BalOver90, BalTotal, InsEst) after an aging run that day.

{%- set as_of = run_setting('as_of_date') %}

with transactions as (

    select
        guarantor_id,
        coalesce(transaction_date, date '0001-01-01')               as transaction_date,
        amount
    from {{ ref('int_ar_transactions') }}
    where guarantor_id is not null

),

claimprocs as (

    select * from {{ ref('stg_opendental__claimproc') }}

),

patients as (

    select * from {{ ref('stg_opendental__patient') }}

),

run_date as (

    select {% if as_of %}cast('{{ as_of }}' as date){% else %}current_date{% endif %} as as_of_date

),

families as (

    -- the month of each family's first dated transaction (NULL when every date is a sentinel)
    select
        guarantor_id,
        cast(date_trunc('month', min(transaction_date) filter (
            where transaction_date >= date '1880-01-01')) as date)  as first_month
    from transactions
    group by 1

),

month_ends as (

    select distinct
        cast(month_start + interval '1 month' - interval '1 day' as date) as as_of_date
    from run_date
    cross join lateral generate_series(
        (select min(first_month) from families),
        date_trunc('month', run_date.as_of_date) - interval '1 month',
        interval '1 month'
    ) as month_start

),

as_of_dates as (

    select as_of_date, true as is_run_date from run_date
    union all
    select as_of_date, false from month_ends

),

family_dates as (

    select
        families.guarantor_id,
        as_of_dates.as_of_date,
        as_of_dates.is_run_date
    from families
    inner join as_of_dates
        on as_of_dates.is_run_date
        or families.first_month <= as_of_dates.as_of_date

),

bucketed as (

    select
        family_dates.guarantor_id,
        family_dates.as_of_date,
        family_dates.is_run_date,
        coalesce(sum(case when t.amount > 0 and family_dates.as_of_date - t.transaction_date <= 30
            then t.amount end), 0)                                  as charges_0_30,
        coalesce(sum(case when t.amount > 0 and family_dates.as_of_date - t.transaction_date between 31 and 60
            then t.amount end), 0)                                  as charges_31_60,
        coalesce(sum(case when t.amount > 0 and family_dates.as_of_date - t.transaction_date between 61 and 90
            then t.amount end), 0)                                  as charges_61_90,
        coalesce(sum(case when t.amount > 0 and family_dates.as_of_date - t.transaction_date > 90
            then t.amount end), 0)                                  as charges_over_90,
        coalesce(sum(case when t.amount < 0 then -t.amount end), 0) as credits,
        coalesce(sum(t.amount), 0)                                  as total_balance
    from family_dates
    left join transactions as t
        on t.guarantor_id = family_dates.guarantor_id
        and t.transaction_date <= family_dates.as_of_date
    group by 1, 2, 3

),

aged as (

    select
        guarantor_id,
        as_of_date,
        is_run_date,
        greatest(charges_over_90 - credits, 0)                      as balance_over_90,
        least(greatest(charges_over_90 + charges_61_90 - credits, 0), charges_61_90) as balance_61_90,
        least(greatest(charges_over_90 + charges_61_90 + charges_31_60 - credits, 0), charges_31_60)
                                                                    as balance_31_60,
        least(greatest(charges_over_90 + charges_61_90 + charges_31_60 + charges_0_30 - credits, 0),
              charges_0_30)                                         as balance_0_30,
        total_balance
    from bucketed

),

pending_now as (

    select
        patients.guarantor                                          as guarantor_id,
        sum(cast(coalesce(claimprocs.ins_pay_est, 0) as numeric(14, 2))
            + cast(coalesce(claimprocs.write_off, 0) as numeric(14, 2))) as insurance_estimate
    from claimprocs
    inner join patients
        on claimprocs.pat_num = patients.pat_num
    where claimprocs.status = 0
    group by 1

),

pending_at_month_end as (

    select
        patients.guarantor                                          as guarantor_id,
        month_ends.as_of_date,
        sum(cast(coalesce(claimprocs.ins_pay_est, 0) as numeric(14, 2))) as insurance_estimate
    from claimprocs
    inner join patients
        on claimprocs.pat_num = patients.pat_num
    inner join month_ends
        on claimprocs.proc_date <= month_ends.as_of_date
        and (claimprocs.status = 0
             or (claimprocs.status in (1, 4, 5, 7) and claimprocs.date_cp > month_ends.as_of_date))
    group by 1, 2

),

final as (

    select
        aged.guarantor_id,
        aged.as_of_date,
        aged.is_run_date,
        cast(aged.balance_0_30 as numeric(14, 2))                   as balance_0_30,
        cast(aged.balance_31_60 as numeric(14, 2))                  as balance_31_60,
        cast(aged.balance_61_90 as numeric(14, 2))                  as balance_61_90,
        cast(aged.balance_over_90 as numeric(14, 2))                as balance_over_90,
        cast(aged.total_balance as numeric(14, 2))                  as total_balance,
        cast(coalesce(case when aged.is_run_date then pending_now.insurance_estimate
                           else pending_at_month_end.insurance_estimate end, 0)
             as numeric(14, 2))                                     as insurance_estimate,
        cast(aged.total_balance
             - coalesce(case when aged.is_run_date then pending_now.insurance_estimate
                             else pending_at_month_end.insurance_estimate end, 0)
             as numeric(14, 2))                                     as patient_portion
    from aged
    left join pending_now
        on aged.guarantor_id = pending_now.guarantor_id
    left join pending_at_month_end
        on aged.guarantor_id = pending_at_month_end.guarantor_id
        and aged.as_of_date = pending_at_month_end.as_of_date

)

select * from final
