-- Collections per day and clinic, in dollars (grain: collection_date, clinic_id), as OpenDental 24.3's
-- Production and Income report counts income (docs/opendental_aging.md section 8):
--   patient_payments:   paysplit.SplitAmt of the splits of a payment, by DatePay: prepayments and other
--                       unearned money (UnearnedType) when received (the report's default), except the
--                       unearned types marked "Do Not Show on Account" (int_hidden_unearned_types); refunds
--                       (negative payments) negative on their day; income transfers (payment.PayType 0)
--                       are +/- pairs on one day: they net to zero per day, and per clinic only when both
--                       splits carry the same ClinicNum (a transfer between clinics moves income from one
--                       clinic's row to the other's);
--   insurance_payments: claimproc.InsPayAmt of claimprocs with Status 1 Received or 4 Supplemental that
--                       are on an insurance check (claimpayment), by the check's CheckDate (insurance
--                       received but not on a check yet is not income yet);
--   total_collections:  patient_payments + insurance_payments.
-- clinic_id 0 = no clinic. Rows with OpenDental's sentinel date belong to no day and are left out.
-- Insurance payments of a claimproc with no provider (ProvNum 0, or one naming no provider row) are kept,
-- where OpenDental's daily report drops them (INNER JOIN provider, RpProdInc.GetDailyProdIncDataSet): see
-- docs/dbt.md, "The other marts against OpenDental's own reports". Those of a claimproc whose PatNum names
-- no patient row or whose PlanNum no insurance plan (or its CarrierNum no carrier) are left out, as the
-- daily report's INNER JOINs leave them (claimprocs below). Patient payments count whatever the split's
-- patient or provider, as the report does ("LEFT JOIN patient", "LEFT JOIN provider").

with paysplits as (

    select paysplits.*
    from {{ ref('stg_opendental__paysplit') }} as paysplits
    inner join {{ ref('stg_opendental__payment') }} as payments
        on paysplits.pay_num = payments.pay_num
    left join {{ ref('int_hidden_unearned_types') }} as hidden_unearned
        on paysplits.unearned_type = hidden_unearned.unearned_type_id
    where hidden_unearned.unearned_type_id is null

),

-- insurance income of a patient, plan and carrier that exist: the daily report reads it "FROM claimproc
-- INNER JOIN patient ON claimproc.PatNum=patient.PatNum INNER JOIN insplan ON claimproc.PlanNum=
-- insplan.PlanNum INNER JOIN carrier ON insplan.CarrierNum=carrier.CarrierNum" (RpProdInc.GetDailyProdIncDataSet)
claimprocs as (

    select
        claimprocs.clinic_num,
        claimprocs.ins_pay_amt,
        claimprocs.status,
        checks.check_date                                           as date_cp
    from {{ ref('stg_opendental__claimproc') }} as claimprocs
    inner join {{ ref('stg_opendental__claimpayment') }} as checks
        on claimprocs.claim_payment_num = checks.claim_payment_num
    inner join {{ ref('stg_opendental__patient') }} as patients
        on claimprocs.pat_num = patients.pat_num
    inner join {{ ref('stg_opendental__insplan') }} as plans
        on claimprocs.plan_num = plans.plan_num
    inner join {{ ref('stg_opendental__carrier') }} as carriers
        on plans.carrier_num = carriers.carrier_num

),

patient_daily as (

    select
        date_pay                                                    as collection_date,
        coalesce(clinic_num, 0)                                     as clinic_id,
        count(*)                                                    as paysplit_count,
        cast(sum(cast(coalesce(split_amt, 0) as numeric(14, 2))) as numeric(14, 2)) as patient_payments
    from paysplits
    where date_pay is not null
    group by 1, 2

),

insurance_daily as (

    select
        date_cp                                                     as collection_date,
        coalesce(clinic_num, 0)                                     as clinic_id,
        count(*)                                                    as insurance_claimproc_count,
        cast(sum(cast(coalesce(ins_pay_amt, 0) as numeric(14, 2))) as numeric(14, 2)) as insurance_payments
    from claimprocs
    where status in (1, 4)
        and date_cp is not null
    group by 1, 2

),

final as (

    select
        coalesce(patient_daily.collection_date, insurance_daily.collection_date) as collection_date,
        coalesce(patient_daily.clinic_id, insurance_daily.clinic_id)             as clinic_id,
        coalesce(patient_daily.paysplit_count, 0)                   as paysplit_count,
        coalesce(insurance_daily.insurance_claimproc_count, 0)      as insurance_claimproc_count,
        cast(coalesce(patient_daily.patient_payments, 0) as numeric(14, 2))     as patient_payments,
        cast(coalesce(insurance_daily.insurance_payments, 0) as numeric(14, 2)) as insurance_payments,
        cast(coalesce(patient_daily.patient_payments, 0)
             + coalesce(insurance_daily.insurance_payments, 0) as numeric(14, 2)) as total_collections
    from patient_daily
    full outer join insurance_daily
        on patient_daily.collection_date = insurance_daily.collection_date
        and patient_daily.clinic_id = insurance_daily.clinic_id

)

select * from final
