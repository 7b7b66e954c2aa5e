-- One row per procedure that has money attached (procedurelog.ProcNum), in dollars:
--   patient_paid        sum of paysplit.SplitAmt of the paysplits attached to the procedure;
--   insurance_paid      sum of claimproc.InsPayAmt,
--   insurance_write_off sum of claimproc.WriteOff, both over the procedure's finalized claimprocs:
--                       Status 1 (Received), 4 (Supplemental), 7 (CapComplete). Estimates (6),
--                       unreceived claims (0), preauths (2) and history (9) hold no money received.
-- Each side is aggregated to the procedure before the two are joined, so no row multiplies another.

with paysplits as (

    select * from {{ ref('stg_opendental__paysplit') }}

),

claimprocs as (

    select * from {{ ref('stg_opendental__claimproc') }}

),

patient_payments as (

    select
        proc_num                                                    as procedure_id,
        count(*)                                                    as paysplit_count,
        cast(sum(coalesce(split_amt, 0)) as numeric(14, 2))         as patient_paid
    from paysplits
    where proc_num is not null
    group by proc_num

),

insurance_payments as (

    select
        proc_num                                                    as procedure_id,
        count(*)                                                    as claimproc_count,
        cast(sum(coalesce(ins_pay_amt, 0)) as numeric(14, 2))       as insurance_paid,
        cast(sum(coalesce(write_off, 0)) as numeric(14, 2))         as insurance_write_off
    from claimprocs
    where proc_num is not null
        and status in (1, 4, 7)
    group by proc_num

),

joined as (

    select
        coalesce(patient_payments.procedure_id, insurance_payments.procedure_id) as procedure_id,
        coalesce(patient_payments.paysplit_count, 0)                as paysplit_count,
        cast(coalesce(patient_payments.patient_paid, 0) as numeric(14, 2)) as patient_paid,
        coalesce(insurance_payments.claimproc_count, 0)             as claimproc_count,
        cast(coalesce(insurance_payments.insurance_paid, 0) as numeric(14, 2)) as insurance_paid,
        cast(
            coalesce(insurance_payments.insurance_write_off, 0) as numeric(14, 2)
        )                                                           as insurance_write_off
    from patient_payments
    full outer join insurance_payments
        on patient_payments.procedure_id = insurance_payments.procedure_id

)

select * from joined
