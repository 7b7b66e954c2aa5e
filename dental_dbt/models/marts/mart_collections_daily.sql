-- Collections per day and clinic, in dollars (grain: collection_date, clinic_id):
--   patient_payments:   paysplit.SplitAmt by DatePay: prepayments and other unearned money (UnearnedType)
--                       when received, refunds (negative payments) negative on their day; income
--                       transfers (payment.PayType 0) are +/- pairs on one day and clinic and net to zero;
--   insurance_payments: claimproc.InsPayAmt of claimprocs with Status 1 Received or 4 Supplemental,
--                       by DateCP;
--   total_collections:  patient_payments + insurance_payments.
-- clinic_id 0 = no clinic. Rows with OpenDental's sentinel date belong to no day and are left out.

with paysplits as (

    select * from {{ ref('stg_opendental__paysplit') }}

),

claimprocs as (

    select * from {{ ref('stg_opendental__claimproc') }}

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
