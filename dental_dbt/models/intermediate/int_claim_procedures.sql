-- One row per claimproc (claimproc.ClaimProcNum), System B insurance: the insurance side of one
-- procedure on one plan, in dollars, with its status decoded. Every claimproc is kept: lines of a claim
-- (NotReceived, Received, Supplemental, Preauth...) and the estimates of planned work (Estimate, on no
-- claim, claim_id NULL).
--   fee_billed  claimproc.FeeBilled (0 on supplementals and estimates, as OpenDental enters them);
--   estimate    claimproc.InsPayEst, what insurance is expected to pay;
--   paid        claimproc.InsPayAmt, what insurance paid on this line;
--   write_off   claimproc.WriteOff; deductible claimproc.DedApplied;
--   is_payment  Status 1 Received or 4 Supplemental: the lines that carry money received, dated
--               payment_date (DateCP). mart_collections_daily counts as insurance income only those on
--               an insurance check (claim_payment_id), by the check's check_date (claimpayment.CheckDate),
--               as OpenDental's Production and Income report does;
--   is_denied   a Received line paid $0 where an estimate above $0 was expected.
-- check_date is claimpayment.CheckDate of the insurance payment the line was paid by (int_claim_payments).
-- A Status OpenDental 24.3 does not define (staging's status NULL, the stored code in status_code)
-- decodes to 'unknown' and is none of the flags.

with claimprocs as (

    select * from {{ ref('stg_opendental__claimproc') }}

),

claim_payments as (

    select * from {{ ref('int_claim_payments') }}

),

final as (

    select
        claim_proc_num                                              as claim_procedure_id,
        claimprocs.claim_num                                        as claim_id,
        proc_num                                                    as procedure_id,
        pat_num                                                     as patient_id,
        prov_num                                                    as provider_id,
        claimprocs.clinic_num                                       as clinic_id,
        plan_num                                                    as insurance_plan_id,
        ins_sub_num                                                 as insurance_subscriber_id,
        claimprocs.claim_payment_num                                as claim_payment_id,
        claim_payments.check_date,
        pay_plan_num                                                as payment_plan_id,
        status,
        status_code,
        case status
            when 0 then 'not_received'
            when 1 then 'received'
            when 2 then 'preauth'
            when 3 then 'adjustment'
            when 4 then 'supplemental'
            when 5 then 'cap_claim'
            when 6 then 'estimate'
            when 7 then 'cap_complete'
            when 8 then 'cap_estimate'
            when 9 then 'ins_hist'
            else 'unknown'
        end                                                         as status_name,
        proc_date                                                   as procedure_date,
        date_cp                                                     as payment_date,
        date_entry,
        cast(coalesce(fee_billed, 0) as numeric(14, 2))             as fee_billed,
        cast(coalesce(ins_pay_est, 0) as numeric(14, 2))            as estimate,
        cast(coalesce(ins_pay_amt, 0) as numeric(14, 2))            as paid,
        cast(coalesce(write_off, 0) as numeric(14, 2))              as write_off,
        cast(coalesce(ded_applied, 0) as numeric(14, 2))            as deductible,
        claimprocs.claim_num is not null                            as is_on_claim,
        coalesce(status = 1, false)                                 as is_received,
        coalesce(status = 4, false)                                 as is_supplemental,
        coalesce(status in (1, 4), false)                           as is_payment,
        coalesce(status = 1, false)
            and coalesce(ins_pay_amt, 0) = 0
            and coalesce(ins_pay_est, 0) > 0                        as is_denied
    from claimprocs
    left join claim_payments
        on claimprocs.claim_payment_num = claim_payments.claim_payment_id

)

select * from final
