-- One row per money row that moves a family's balance (System D, accounts receivable), in dollars,
-- signed: positive = charge to the family, negative = credit. A plain ledger of the money rows, NOT
-- OpenDental's aging transactions and not the AR aging's input: mart_ar_aging reads int_aging_transactions
-- (OpenDental's Ledgers.GetTransQueryString under the practice's settings). Only dim_date reads this model,
-- for its date range. It differs from GetTransQueryString, so its sum per family is not patient.BalTotal:
-- paysplits of the unearned types hidden from the account ("Do Not Show on Account") are counted, and so are
-- claimprocs of procedures that are not complete; payment plans add no rows (no CompletedAmt, plan charges
-- or dynamic-plan links) and a split on a plan always counts; sentinel dates are NULL, not 0001-01-01.
--   procedure   completed procedures (procedurelog.ProcStatus = 2): +ProcFee x (UnitQty + BaseUnits) on ProcDate
--   adjustment  adjustment.AdjAmt (signed) on AdjDate
--   paysplit    -paysplit.SplitAmt on DatePay, whatever its UnearnedType: a prepayment is a credit, a
--               refund (negative split) a charge, and income transfers are +/- pairs that net to zero
--   claimproc   -(InsPayAmt + WriteOff) of claimprocs received or finalized (Status 1 Received,
--               4 Supplemental, 5 CapClaim, 7 CapComplete) on DateCP, whatever the procedure's status;
--               InsPayAmt of a claimproc attached to a payment plan (PayPlanNum <> 0) is left out (the
--               plan tracks it), its WriteOff is not.
-- guarantor_id is the family (patient.Guarantor of the transaction's patient). transaction_date is NULL
-- where OpenDental holds its "no date" sentinel.

with procedures as (

    select * from {{ ref('int_procedures_complete') }}

),

adjustments as (

    select * from {{ ref('int_adjustments') }}

),

paysplits as (

    select * from {{ ref('stg_opendental__paysplit') }}

),

claimprocs as (

    select * from {{ ref('stg_opendental__claimproc') }}

),

patients as (

    select * from {{ ref('stg_opendental__patient') }}

),

unioned as (

    select
        'procedure'                                                 as transaction_type,
        procedure_id                                                as source_id,
        patient_id,
        procedure_date                                              as transaction_date,
        procedure_charge                                            as amount
    from procedures

    union all

    select
        'adjustment',
        adjustment_id,
        patient_id,
        adjustment_date,
        adjustment_amount
    from adjustments

    union all

    select
        'paysplit',
        split_num,
        pat_num,
        date_pay,
        -cast(coalesce(split_amt, 0) as numeric(14, 2))
    from paysplits

    union all

    select
        'claimproc',
        claim_proc_num,
        pat_num,
        date_cp,
        -(
            case when coalesce(pay_plan_num, 0) = 0
                then cast(coalesce(ins_pay_amt, 0) as numeric(14, 2)) else 0 end
            + cast(coalesce(write_off, 0) as numeric(14, 2))
        )
    from claimprocs
    where status in (1, 4, 5, 7)

),

final as (

    select
        unioned.transaction_type,
        unioned.source_id,
        unioned.patient_id,
        patients.guarantor                                          as guarantor_id,
        unioned.transaction_date,
        cast(unioned.amount as numeric(14, 2))                      as amount
    from unioned
    left join patients
        on unioned.patient_id = patients.pat_num
    where unioned.amount <> 0

)

select * from final
