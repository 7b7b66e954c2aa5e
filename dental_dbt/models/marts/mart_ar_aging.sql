-- Accounts receivable aging per family, in dollars (grain: guarantor_id, as_of_date), as OpenDental
-- 24.3 ages a family under the practice's settings (int_practice_settings): its aging query
-- (Ledgers.GetAgingQueryString), facts in docs/opendental_aging.md sections 2-7.
--   * as_of_date: the run's as-of date (var as_of_date, default today; OpenDental's aging "today") and
--     every month end before it (OpenDental's historic aging), back to the month of the family's first
--     dated transaction (every month end when it has a sentinel-dated one, 0001-01-01, which is older
--     than all of them);
--   * transactions: int_aging_transactions. At a month end only those dated on or before it count; at
--     the run date every one does (total_balance includes future-dated rows, as OpenDental's does);
--   * AgingProcLifo on: the rows attached to one procedure on one day (adjustments, plan credits) are
--     netted; a net credit is dated on the procedure's date and reduces that bucket; a bucket driven
--     below zero passes the excess to the credits;
--   * buckets by age in days d = as_of_date - date: 0-30 (0 <= d <= 30), 31-60, 61-90, over 90 (d > 90);
--     credits pay the oldest bucket first; a family in credit has all four buckets 0;
--   * insurance_pay_estimate + writeoff_estimate = insurance_estimate: claimprocs of complete procedures
--     (or with no procedure) that are NotReceived (Status 0) at the run date; at a month end, those of
--     procedures dated on or before it that were NotReceived or Received (Status 1) after it; InsPayEst
--     and WriteOff (the pending write-off);
--   * pay_plan_due: debits of patient payment plans due by the as-of date + PayPlansBillInAdvanceDays
--     (at a month end OpenDental counts from the run date, not the month end) minus the splits paid to
--     plans (at a month end, those paid by then);
--   * patient_portion = total_balance - insurance_estimate.
-- At the run date the buckets, total, estimate and PayPlanDue are what OpenDental stores on the
-- guarantor (patient.Bal_0_30, Bal_31_60, Bal_61_90, BalOver90, BalTotal, InsEst, PayPlanDue).
-- Orphans: rows of a patient that does not exist, and families whose guarantor does not exist, are
-- not aged (below; docs/dbt.md, "The other marts against OpenDental's own reports").

with settings as (

    select * from {{ ref('int_practice_settings') }}

),

patients as (

    select pat_num, guarantor from {{ ref('stg_opendental__patient') }}

),

-- the transactions of families whose guarantor has a patient row. OpenDental ages by p.Guarantor
-- (Ledgers.GetAgingGuarTransQuery), but a family whose guarantor row is missing is in none of its
-- figures per family: ComputeAging stores aging on the guarantor's own row ("UPDATE patient p LEFT JOIN
-- famaging f ON p.PatNum=f.PatNum"; the family's patients get 0) and the Aging of A/R report lists
-- families "INNER JOIN patient ON patient.PatNum=guarAging.PatNum" (RpAging.GetQueryString). The
-- transactions of a patient row that is missing are already out of int_aging_transactions (OpenDental's
-- "INNER JOIN patient p ON p.PatNum=trans.PatNum"). Estimates and PayPlanDue are read for the families
-- listed here only (family_dates).
transactions as (

    select transactions.*
    from {{ ref('int_aging_transactions') }} as transactions
    inner join patients as guarantors
        on transactions.guarantor_id = guarantors.pat_num

),

claimprocs as (

    select * from {{ ref('stg_opendental__claimproc') }}

),

procedures as (

    select proc_num, proc_status_code from {{ ref('stg_opendental__procedurelog') }}

),

run_date as (

    select {{ as_of_date() }} as as_of_date

),

families as (

    -- the month of each family's first dated transaction (NULL when every date is a sentinel), and
    -- whether it has a sentinel-dated one (0001-01-01: older than every month end, so OpenDental ages
    -- it at each of them)
    select
        guarantor_id,
        cast(date_trunc('month', min(transaction_date) filter (
            where transaction_date >= date '1880-01-01')) as date)  as first_month,
        bool_or(transaction_date < date '1880-01-01' and amount <> 0) as has_sentinel_date
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
        or families.has_sentinel_date
        or families.first_month <= as_of_dates.as_of_date

),

-- rows aged on their own date: everything when AgingProcLifo is off, else the rows not attached to a
-- procedure; summed per family, day, on_or_before_as_of_only and sign (charge or not), all the buckets
-- below tell apart, so each family's month ends join fewer rows
single_rows as (

    select
        transactions.guarantor_id,
        transactions.transaction_date,
        transactions.on_or_before_as_of_only,
        sum(transactions.amount)                                    as amount
    from transactions
    cross join settings
    where transactions.transaction_type <> 'plan_debit_due'
      and (not settings.aging_proc_lifo or transactions.aged_procedure_id is null)
    group by
        transactions.guarantor_id,
        transactions.transaction_date,
        transactions.on_or_before_as_of_only,
        transactions.amount > 0

),

-- AgingProcLifo on: rows attached to a procedure, netted per patient, procedure and day
procedure_groups as (

    select
        transactions.guarantor_id,
        transactions.patient_id,
        transactions.aged_procedure_id,
        transactions.transaction_date,
        min(transactions.aged_procedure_date)                       as aged_procedure_date,
        coalesce(sum(transactions.amount) filter (where not transactions.on_or_before_as_of_only), 0)
                                                                    as amount_always,
        coalesce(sum(transactions.amount) filter (where transactions.on_or_before_as_of_only), 0)
                                                                    as amount_from_its_date
    from transactions
    cross join settings
    where settings.aging_proc_lifo
      and transactions.transaction_type <> 'plan_debit_due'
      and transactions.aged_procedure_id is not null
    group by 1, 2, 3, 4

),

positioned as (

    select
        family_dates.guarantor_id,
        family_dates.as_of_date,
        family_dates.is_run_date,
        t.transaction_date                                          as aged_date,
        t.amount,
        false                                                       as is_instant
    from family_dates
    inner join single_rows as t
        on t.guarantor_id = family_dates.guarantor_id
        and (family_dates.is_run_date or t.transaction_date <= family_dates.as_of_date)
        and (not t.on_or_before_as_of_only or t.transaction_date <= family_dates.as_of_date)

    union all

    select
        guarantor_id,
        as_of_date,
        is_run_date,
        case when net < 0 then aged_procedure_date else transaction_date end,
        net,
        true
    from (
        select
            family_dates.guarantor_id,
            family_dates.as_of_date,
            family_dates.is_run_date,
            g.transaction_date,
            g.aged_procedure_date,
            g.amount_always
                + case when g.transaction_date <= family_dates.as_of_date then g.amount_from_its_date else 0 end
                                                                    as net
        from family_dates
        inner join procedure_groups as g
            on g.guarantor_id = family_dates.guarantor_id
            and (family_dates.is_run_date
                 or least(g.transaction_date, g.aged_procedure_date) <= family_dates.as_of_date)
    ) as netted
    where net <> 0
      and (is_run_date or (case when net < 0 then aged_procedure_date else transaction_date end) <= as_of_date)

),

position_sums as (

    select
        p.guarantor_id,
        p.as_of_date,
        sum(p.amount) filter (where (p.amount > 0 or p.is_instant)
            and p.aged_date < p.as_of_date - 90)                    as charges_over_90,
        sum(p.amount) filter (where (p.amount > 0 or p.is_instant)
            and p.aged_date >= p.as_of_date - 90
            and p.aged_date < p.as_of_date - 60)                    as charges_61_90,
        sum(p.amount) filter (where (p.amount > 0 or p.is_instant)
            and p.aged_date >= p.as_of_date - 60
            and p.aged_date < p.as_of_date - 30)                    as charges_31_60,
        sum(p.amount) filter (where (p.amount > 0 or p.is_instant)
            and p.aged_date >= p.as_of_date - 30
            and p.aged_date <= p.as_of_date)                        as charges_0_30,
        -sum(p.amount) filter (where p.amount < 0 and not p.is_instant
            and p.aged_date <= p.as_of_date)                        as credits,
        sum(p.amount)                                               as total_balance
    from positioned as p
    group by 1, 2

),

bucketed as (

    select
        family_dates.guarantor_id,
        family_dates.as_of_date,
        family_dates.is_run_date,
        coalesce(position_sums.charges_over_90, 0)                  as charges_over_90,
        coalesce(position_sums.charges_61_90, 0)                    as charges_61_90,
        coalesce(position_sums.charges_31_60, 0)                    as charges_31_60,
        coalesce(position_sums.charges_0_30, 0)                     as charges_0_30,
        coalesce(position_sums.credits, 0)                          as credits,
        coalesce(position_sums.total_balance, 0)                    as total_balance
    from family_dates
    left join position_sums
        on position_sums.guarantor_id = family_dates.guarantor_id
        and position_sums.as_of_date = family_dates.as_of_date

),

-- a bucket a net credit took below zero is floored at zero and the excess joins the credits
floored as (

    select
        guarantor_id,
        as_of_date,
        is_run_date,
        greatest(charges_over_90, 0)                                as charges_over_90,
        greatest(charges_61_90, 0)                                  as charges_61_90,
        greatest(charges_31_60, 0)                                  as charges_31_60,
        greatest(charges_0_30, 0)                                   as charges_0_30,
        credits - least(charges_over_90, 0) - least(charges_61_90, 0)
            - least(charges_31_60, 0) - least(charges_0_30, 0)      as credits,
        total_balance
    from bucketed

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
    from floored

),

pending_claimprocs as (

    select
        patients.guarantor                                          as guarantor_id,
        claimprocs.status_code,
        coalesce(claimprocs.proc_date, date '0001-01-01')           as proc_date,
        coalesce(claimprocs.date_cp, date '0001-01-01')             as date_cp,
        cast(claimprocs.ins_pay_est as numeric(14, 2))              as ins_pay_est,
        cast(claimprocs.write_off as numeric(14, 2))                as write_off
    from claimprocs
    inner join patients
        on claimprocs.pat_num = patients.pat_num
    left join procedures
        on claimprocs.proc_num = procedures.proc_num
    where claimprocs.status_code in (0, 1)
      and (claimprocs.proc_num is null or procedures.proc_status_code = 2)

),

estimates as (

    select
        family_dates.guarantor_id,
        family_dates.as_of_date,
        sum(c.ins_pay_est)                                          as insurance_pay_estimate,
        sum(c.write_off)                                            as writeoff_estimate
    from family_dates
    inner join pending_claimprocs as c
        on c.guarantor_id = family_dates.guarantor_id
        and case when family_dates.is_run_date then c.status_code = 0
                 else c.proc_date <= family_dates.as_of_date
                      and (c.status_code = 0 or c.date_cp > family_dates.as_of_date) end
    group by 1, 2

),

plan_dues as (

    select
        family_dates.guarantor_id,
        family_dates.as_of_date,
        sum(t.pay_plan_amount)                                      as pay_plan_due
    from family_dates
    cross join run_date
    cross join settings
    inner join transactions as t
        on t.guarantor_id = family_dates.guarantor_id
        and t.pay_plan_amount <> 0
        and case when t.transaction_type = 'plan_debit_due'
                 then t.transaction_date <= (case when family_dates.is_run_date then family_dates.as_of_date
                                                  else run_date.as_of_date end) + settings.bill_in_advance_days
                 else family_dates.is_run_date or t.transaction_date <= family_dates.as_of_date end
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
        cast(coalesce(estimates.insurance_pay_estimate, 0) as numeric(14, 2)) as insurance_pay_estimate,
        cast(coalesce(estimates.writeoff_estimate, 0) as numeric(14, 2))      as writeoff_estimate,
        cast(coalesce(estimates.insurance_pay_estimate, 0) + coalesce(estimates.writeoff_estimate, 0)
             as numeric(14, 2))                                     as insurance_estimate,
        cast(aged.total_balance - coalesce(estimates.insurance_pay_estimate, 0)
             - coalesce(estimates.writeoff_estimate, 0) as numeric(14, 2)) as patient_portion,
        cast(coalesce(plan_dues.pay_plan_due, 0) as numeric(14, 2)) as pay_plan_due
    from aged
    left join estimates
        on aged.guarantor_id = estimates.guarantor_id
        and aged.as_of_date = estimates.as_of_date
    left join plan_dues
        on aged.guarantor_id = plan_dues.guarantor_id
        and aged.as_of_date = plan_dues.as_of_date

)

select * from final
