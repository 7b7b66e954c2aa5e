-- One row per payment made on a payment plan (grain: payment_source, payment_id), System E collections,
-- in dollars, as OpenDental's Payment Plans report takes a plan's paid (Reports/RpPayPlan.cs
-- GetPayPlanTable), dated on or before the run's as-of date (run setting as_of_date, default today):
--   payment_source 'paysplit'   paysplit.SplitAmt of a split with a PayPlanNum ("_paid"), except splits of
--                               an unearned type marked "Do Not Show on Account" (int_hidden_unearned_types:
--                               "paysplit.UnearnedType NOT IN (...)"); payment_date is DatePay;
--   payment_source 'claimproc'  claimproc.InsPayAmt of a claimproc with a PayPlanNum and Status 1 Received,
--                               4 Supplemental or 5 CapClaim ("_insPaid": insurance pays an insurance plan by
--                               claim payments); payment_date is DateCP.
-- Which of the two pays which plan (a patient plan by its splits, an insurance plan, payplan.PlanNum <> 0,
-- by its claimprocs) is the readers' rule: int_payment_plans, int_collection_activity. A payment without
-- a date (OpenDental's sentinel, NULL in staging) counts as made before the as-of date, like the stored
-- 0001-01-01 it holds.

with run_date as (

    select {{ as_of_date() }} as as_of_date

),

hidden_unearned_types as (

    select unearned_type_id
    from {{ ref('int_hidden_unearned_types') }}

),

splits as (

    select
        'paysplit'                                                  as payment_source,
        splits.split_num                                            as payment_id,
        splits.pay_plan_num,
        splits.pat_num,
        splits.date_pay                                             as payment_date,
        cast(coalesce(splits.split_amt, 0) as numeric(14, 2))       as amount
    from {{ ref('stg_opendental__paysplit') }} as splits
    cross join run_date
    left join hidden_unearned_types
        on splits.unearned_type = hidden_unearned_types.unearned_type_id
    where splits.pay_plan_num is not null
        and hidden_unearned_types.unearned_type_id is null
        and coalesce(splits.date_pay, date '0001-01-01') <= run_date.as_of_date

),

claimprocs as (

    select
        'claimproc'                                                 as payment_source,
        claimprocs.claim_proc_num                                   as payment_id,
        claimprocs.pay_plan_num,
        claimprocs.pat_num,
        claimprocs.date_cp                                          as payment_date,
        cast(coalesce(claimprocs.ins_pay_amt, 0) as numeric(14, 2)) as amount
    from {{ ref('stg_opendental__claimproc') }} as claimprocs
    cross join run_date
    where claimprocs.pay_plan_num is not null
        and claimprocs.status in (1, 4, 5)
        and coalesce(claimprocs.date_cp, date '0001-01-01') <= run_date.as_of_date

),

final as (

    select * from splits
    union all
    select * from claimprocs

)

select * from final
