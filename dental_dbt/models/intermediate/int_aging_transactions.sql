-- The transactions OpenDental 24.3 ages, one row per source row, under the practice's settings
-- (int_practice_settings), in dollars: OpenDental's aging query (Ledgers.GetTransQueryString), facts in
-- docs/opendental_aging.md sections 2 and 5. Signed: amount > 0 is a charge, < 0 a credit.
--   procedure       completed procedures (ProcStatus 2, ProcFee <> 0): ProcFee x (UnitQty + BaseUnits) on ProcDate
--   claimproc       Status 1, 4, 5, 7 whose procedure is complete (or ProcNum 0): -(InsPayAmt unless the
--                   claimproc is on a payment plan) - WriteOff, on DateCP (NotReceived rows are estimates,
--                   mart_ar_aging reads them from the claimprocs)
--   adjustment      every adjustment: AdjAmt on AdjDate, attached to adjustment.ProcNum / ProcDate
--   paysplit        -SplitAmt on DatePay, except unearned types hidden from the account; versions 1 and 3:
--                   0 for a split on a payment plan (the plan carries it); pay_plan_amount = -SplitAmt of
--                   splits on a plan (version 2: an open plan)
--   plan_completed  versions 1 and 4: -payplan.CompletedAmt on PayPlanDate (version 4: insurance plans only)
--   plan_charge     version 2: payplancharge credits -Principal (the plan's patient, attached to the
--                   charge's ProcNum) and debits +Principal + Interest of patient plans (the charge's
--                   Guarantor); version 3: credits only (the charge's PatNum). Counted only at as-of dates
--                   on or after ChargeDate (on_or_before_as_of_only).
--   plan_debit_due  debits of open (version 2) patient plans, for PayPlanDue only: pay_plan_amount =
--                   Principal + Interest, due when ChargeDate <= as-of + PayPlansBillInAdvanceDays
--   plan_link       versions 2 and 3, dynamic payment plans (payplanlink): a credit for each linked complete
--                   procedure (LinkType 2) or adjustment (LinkType 1), -AmountOverride, or when that is 0 the
--                   item's amount still open today: a procedure's fee x units + its adjustments (same
--                   patient, provider and clinic) - insurance (Received/Supplemental/CapComplete: InsPayAmt and
--                   WriteOff; other statuses but Preauth: InsEstTotalOverride else InsPayEst, and
--                   WriteOffEstOverride else WriteOffEst, -1 meaning unset) - splits not on a plan; an
--                   adjustment's AdjAmt - its splits not on a plan. Dated and attached (AgingProcLifo) on
--                   the procedure's ProcDate / the AdjDate; counted at as-of dates on or after it, as
--                   OpenDental's family aging does.
-- transaction_date keeps OpenDental's sentinel: a missing date is 0001-01-01 (the oldest).
-- aged_procedure_id / aged_procedure_date: the procedure a row is attached to, for AgingProcLifo.
-- The payment plan rules per PayPlansVersion are macros/pay_plan_aging.sql's (mart_data_exceptions reads them too).

with settings as (

    select * from {{ ref('int_practice_settings') }}

),

patients as (

    select pat_num, guarantor from {{ ref('stg_opendental__patient') }}

),

-- only the columns read below: the CTE is read three times, so PostgreSQL computes it once with
-- every column it selects, and the staging view's other columns (notes cleaned of control
-- characters, ...) cost more than the rest of the model
procedures as (

    select proc_num, pat_num, prov_num, clinic_num, proc_date, proc_fee, unit_qty, base_units, proc_status_code
    from {{ ref('stg_opendental__procedurelog') }}

),

claimprocs as (

    select * from {{ ref('stg_opendental__claimproc') }}

),

adjustments as (

    select * from {{ ref('stg_opendental__adjustment') }}

),

paysplits as (

    select * from {{ ref('stg_opendental__paysplit') }}

),

hidden_unearned as (

    select * from {{ ref('int_hidden_unearned_types') }}

),

plans as (

    select * from {{ ref('stg_opendental__payplan') }}

),

plan_charges as (

    select * from {{ ref('stg_opendental__payplancharge') }}

),

plan_links as (

    select * from {{ ref('stg_opendental__payplanlink') }}

),

-- what a dynamic plan's linked item still owes today (Ledgers.GetTransQueryString, "PayPlanLinks"):
-- none of these sums is limited to the as-of date, as in OpenDental
link_procedure_adjustments as (

    select proc_num, pat_num, prov_num, clinic_num, sum(cast(adj_amt as numeric(14, 2))) as adj_amt
    from adjustments
    where proc_num is not null
    group by proc_num, pat_num, prov_num, clinic_num

),

link_procedure_insurance as (

    select
        proc_num,
        sum(case when status_code in (1, 4, 7) then cast(ins_pay_amt as numeric(14, 2))
                 when ins_est_total_override <> -1 then cast(ins_est_total_override as numeric(14, 2))
                 else cast(ins_pay_est as numeric(14, 2)) end)                  as ins_pay,
        sum(case when status_code in (1, 4, 7) then cast(write_off as numeric(14, 2))
                 when write_off_est_override <> -1 then cast(write_off_est_override as numeric(14, 2))
                 when write_off_est <> -1 then cast(write_off_est as numeric(14, 2))
                 else 0 end)                                                    as write_off
    from claimprocs
    where status_code <> 2
      and proc_num is not null
    group by proc_num

),

link_procedure_splits as (

    select proc_num, sum(cast(split_amt as numeric(14, 2))) as split_amt
    from paysplits
    where pay_plan_num is null
      and proc_num is not null
    group by proc_num

),

link_adjustment_splits as (

    select adj_num, sum(cast(split_amt as numeric(14, 2))) as split_amt
    from paysplits
    where pay_plan_num is null
      and adj_num is not null
    group by adj_num

),

plan_link_items as (

    select
        plan_links.pay_plan_link_num,
        plan_links.amount_override,
        procedures.pat_num,
        procedures.proc_num,
        procedures.proc_date                                                    as age_date,
        cast(procedures.proc_fee as numeric(14, 2)) * (procedures.unit_qty + procedures.base_units)
            + coalesce(link_procedure_adjustments.adj_amt, 0)
            - coalesce(link_procedure_insurance.ins_pay, 0)
            - coalesce(link_procedure_insurance.write_off, 0)
            - coalesce(link_procedure_splits.split_amt, 0)                      as open_amount
    from plan_links
    inner join plans
        on plan_links.pay_plan_num = plans.pay_plan_num
    inner join procedures
        on plan_links.f_key = procedures.proc_num
    left join link_procedure_adjustments
        on procedures.proc_num = link_procedure_adjustments.proc_num
       and procedures.pat_num = link_procedure_adjustments.pat_num
       and procedures.prov_num is not distinct from link_procedure_adjustments.prov_num
       and procedures.clinic_num is not distinct from link_procedure_adjustments.clinic_num
    left join link_procedure_insurance
        on procedures.proc_num = link_procedure_insurance.proc_num
    left join link_procedure_splits
        on procedures.proc_num = link_procedure_splits.proc_num
    where plan_links.link_type_code = 2
      and procedures.proc_status_code = 2

    union all

    select
        plan_links.pay_plan_link_num,
        plan_links.amount_override,
        adjustments.pat_num,
        null,
        adjustments.adj_date,
        cast(adjustments.adj_amt as numeric(14, 2)) - coalesce(link_adjustment_splits.split_amt, 0)
    from plan_links
    inner join adjustments
        on plan_links.f_key = adjustments.adj_num
    left join link_adjustment_splits
        on adjustments.adj_num = link_adjustment_splits.adj_num
    where plan_links.link_type_code = 1

),

unioned as (

    select
        'procedure'                                                 as transaction_type,
        proc_num                                                    as source_id,
        pat_num                                                     as patient_id,
        proc_date                                                   as transaction_date,
        cast(proc_fee as numeric(14, 2)) * (unit_qty + base_units)  as amount,
        cast(0 as numeric(14, 2))                                   as pay_plan_amount,
        cast(null as bigint)                                        as aged_procedure_id,
        cast(null as date)                                          as aged_procedure_date,
        false                                                       as on_or_before_as_of_only
    from procedures
    where proc_status_code = 2
      and proc_fee <> 0

    union all

    select
        'claimproc',
        claimprocs.claim_proc_num,
        claimprocs.pat_num,
        claimprocs.date_cp,
        -(case when claimprocs.pay_plan_num is null
               then cast(claimprocs.ins_pay_amt as numeric(14, 2)) else 0 end)
            - cast(claimprocs.write_off as numeric(14, 2)),
        0,
        null,
        null,
        false
    from claimprocs
    left join procedures
        on claimprocs.proc_num = procedures.proc_num
    where claimprocs.status_code in (1, 4, 5, 7)
      and (claimprocs.proc_num is null or procedures.proc_status_code = 2)

    union all

    select
        'adjustment',
        adj_num,
        pat_num,
        adj_date,
        cast(adj_amt as numeric(14, 2)),
        0,
        proc_num,
        coalesce(proc_date, date '0001-01-01'),
        false
    from adjustments
    where adj_amt <> 0

    union all

    select
        'paysplit',
        paysplits.split_num,
        paysplits.pat_num,
        paysplits.date_pay,
        case when settings.pay_plans_version in (1, 3) and paysplits.pay_plan_num is not null then 0
             else -cast(paysplits.split_amt as numeric(14, 2)) end,
        case when paysplits.pay_plan_num is not null
                  and not (settings.pay_plans_version = 2 and coalesce(plans.is_closed, false))
             then -cast(paysplits.split_amt as numeric(14, 2)) else 0 end,
        null,
        null,
        false
    from paysplits
    cross join settings
    left join plans
        on paysplits.pay_plan_num = plans.pay_plan_num
    left join hidden_unearned
        on paysplits.unearned_type = hidden_unearned.unearned_type_id
    where paysplits.split_amt <> 0
      and hidden_unearned.unearned_type_id is null

    union all

    select
        'plan_completed',
        plans.pay_plan_num,
        plans.pat_num,
        plans.pay_plan_date,
        -cast(plans.completed_amt as numeric(14, 2)),
        0,
        null,
        null,
        false
    from plans
    cross join settings
    where plans.completed_amt <> 0
      and {{ pay_plan_ages_completed('settings.pay_plans_version', 'plans.plan_num') }}

    union all

    select
        'plan_charge',
        plan_charges.pay_plan_charge_num,
        {{ pay_plan_charge_patient('settings.pay_plans_version', 'plan_charges', 'plans') }},
        plan_charges.charge_date,
        {{ pay_plan_charge_amount('plan_charges', 'plans') }},
        0,
        case when plan_charges.charge_type_code = 1 then plan_charges.proc_num end,
        case when procedures.proc_num is not null then coalesce(procedures.proc_date, date '0001-01-01') end,
        true
    from plan_charges
    cross join settings
    left join plans
        on plan_charges.pay_plan_num = plans.pay_plan_num
    left join procedures
        on plan_charges.proc_num = procedures.proc_num
    where {{ pay_plan_ages_charge('settings.pay_plans_version', 'plan_charges.charge_type_code') }}

    union all

    select
        'plan_debit_due',
        plan_charges.pay_plan_charge_num,
        plan_charges.guarantor,
        plan_charges.charge_date,
        0,
        cast(plan_charges.principal as numeric(14, 2)) + cast(plan_charges.interest as numeric(14, 2)),
        null,
        null,
        false
    from plan_charges
    cross join settings
    inner join plans
        on plan_charges.pay_plan_num = plans.pay_plan_num
    where {{ pay_plan_ages_debit_due('settings.pay_plans_version', 'plan_charges', 'plans') }}

    union all

    select
        'plan_link',
        plan_link_items.pay_plan_link_num,
        plan_link_items.pat_num,
        plan_link_items.age_date,
        case when plan_link_items.amount_override = 0 then -plan_link_items.open_amount
             else -cast(plan_link_items.amount_override as numeric(14, 2)) end,
        0,
        plan_link_items.proc_num,
        case when plan_link_items.proc_num is not null then coalesce(plan_link_items.age_date, date '0001-01-01') end,
        true
    from plan_link_items
    cross join settings
    where {{ pay_plan_ages_links('settings.pay_plans_version') }}

),

final as (

    select
        unioned.transaction_type,
        unioned.source_id,
        unioned.patient_id,
        patients.guarantor                                          as guarantor_id,
        coalesce(unioned.transaction_date, date '0001-01-01')       as transaction_date,
        cast(unioned.amount as numeric(14, 2))                      as amount,
        cast(unioned.pay_plan_amount as numeric(14, 2))             as pay_plan_amount,
        unioned.aged_procedure_id,
        unioned.aged_procedure_date,
        unioned.on_or_before_as_of_only
    from unioned
    -- a row whose PatNum is 0 or names no patient row is aged in no family, as OpenDental's aging query
    -- joins its transactions "INNER JOIN patient p ON p.PatNum=trans.PatNum" (Ledgers.GetAgingGuarTransQuery).
    -- guarantor_id is patient.Guarantor as stored, even when it names no patient row: mart_ar_aging leaves
    -- such a family out
    inner join patients
        on unioned.patient_id = patients.pat_num
    where unioned.amount <> 0
       or unioned.pay_plan_amount <> 0

)

select * from final
