-- One row per insurance payment (claimpayment.ClaimPaymentNum: a check or EFT from a carrier), System
-- B insurance, in dollars:
--   check_amount      claimpayment.CheckAmt, the amount of the check as entered;
--   claimproc_paid    sum of claimproc.InsPayAmt of the claimprocs attached to it (ClaimPaymentNum);
--   unallocated_amount check_amount - claimproc_paid: 0 when the check is fully split onto claims;
--   carrier_id        insplan.CarrierNum of the attached claimprocs' plans when they all name one
--                     carrier (NULL otherwise; carrier_count says how many); carrier_name is
--                     claimpayment.CarrierName as typed on the check;
--   days_issued_to_check  CheckDate - DateIssued (days from the carrier issuing to the practice
--                     entering it).

with payments as (

    select * from {{ ref('stg_opendental__claimpayment') }}

),

plans as (

    select * from {{ ref('stg_opendental__insplan') }}

),

lines as (

    select
        claimprocs.claim_payment_num                                as claim_payment_id,
        count(*)                                                    as claimproc_count,
        count(distinct claimprocs.claim_num)                        as claim_count,
        count(*) filter (where claimprocs.status = 4)               as supplemental_count,
        cast(sum(coalesce(claimprocs.ins_pay_amt, 0)) as numeric(14, 2)) as claimproc_paid,
        count(distinct plans.carrier_num)                           as carrier_count,
        min(plans.carrier_num)                                      as any_carrier_id
    from {{ ref('stg_opendental__claimproc') }} as claimprocs
    left join plans
        on claimprocs.plan_num = plans.plan_num
    where claimprocs.claim_payment_num is not null
    group by claimprocs.claim_payment_num

),

final as (

    select
        payments.claim_payment_num                                  as claim_payment_id,
        payments.check_date,
        payments.date_issued,
        payments.check_date - payments.date_issued                  as days_issued_to_check,
        payments.clinic_num                                         as clinic_id,
        payments.deposit_num                                        as deposit_id,
        payments.pay_type                                           as payment_type_id,
        payments.is_partial,
        case when lines.carrier_count = 1 then lines.any_carrier_id end as carrier_id,
        coalesce(lines.carrier_count, 0)                            as carrier_count,
        payments.carrier_name,
        cast(coalesce(payments.check_amt, 0) as numeric(14, 2))     as check_amount,
        coalesce(lines.claimproc_count, 0)                          as claimproc_count,
        coalesce(lines.claim_count, 0)                              as claim_count,
        coalesce(lines.supplemental_count, 0)                       as supplemental_count,
        cast(coalesce(lines.claimproc_paid, 0) as numeric(14, 2))   as claimproc_paid,
        cast(cast(coalesce(payments.check_amt, 0) as numeric(14, 2))
             - coalesce(lines.claimproc_paid, 0) as numeric(14, 2)) as unallocated_amount
    from payments
    left join lines
        on payments.claim_payment_num = lines.claim_payment_id

)

select * from final
