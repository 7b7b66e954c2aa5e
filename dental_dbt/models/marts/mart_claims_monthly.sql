-- Insurance claims per month sent and carrier (grain: month, carrier_id), primary and secondary
-- claims only (claim.ClaimType 'P', 'S'; pre-authorizations and capitation claims left out), from
-- int_claims (System B):
--   claims_sent: sent claims (ClaimStatus S, R or P; int_claims.is_sent) with DateSent in the month
--   (OpenDental fills DateSent at creation, so unsent and held claims carry one too);
--   claims_received: of those, received (ClaimStatus 'R') with a DateReceived;
--   days_to_payment_median / _p90: DateReceived - DateSent of the received claims (days);
--   zero_pay_rate: received claims paid $0 (denied or fully applied to deductible) / received claims;
--   estimate_accuracy: sum(InsPayAmt) / sum(InsPayEst) of the received claims (1 = estimates held);
--   billed_fee, estimated, paid: ClaimFee, InsPayEst, InsPayAmt sums (dollars);
--   claims_denied: received claims paid $0 while an estimate above $0 was expected (int_claims.is_denied);
--   supplemental_paid: InsPayAmt of the supplemental payments on the month's claims (dollars, included
--   in paid).
-- carrier_id is insplan.CarrierNum of the claim's plan; 0 when the plan is unknown.

with sent as (

    select
        cast(date_trunc('month', date_sent) as date)                as month,
        coalesce(carrier_id, 0)                                     as carrier_id,
        is_received,
        is_denied,
        days_to_payment,
        supplemental_paid,
        billed_fee,
        estimate,
        paid
    from {{ ref('int_claims') }}
    where claim_type in ('P', 'S')
        and is_sent

),

final as (

    select
        month,
        carrier_id,
        count(*)                                                    as claims_sent,
        count(*) filter (where is_received)                         as claims_received,
        percentile_cont(0.5) within group (order by days_to_payment)
            filter (where is_received)                              as days_to_payment_median,
        percentile_cont(0.9) within group (order by days_to_payment)
            filter (where is_received)                              as days_to_payment_p90,
        cast((count(*) filter (where is_received and paid = 0))::numeric
             / nullif(count(*) filter (where is_received), 0) as numeric(7, 4)) as zero_pay_rate,
        cast(sum(paid) filter (where is_received)
             / nullif(sum(estimate) filter (where is_received), 0) as numeric(9, 4)) as estimate_accuracy,
        cast(sum(billed_fee) as numeric(14, 2))                     as billed_fee,
        cast(sum(estimate) as numeric(14, 2))                       as estimated,
        cast(coalesce(sum(paid) filter (where is_received), 0) as numeric(14, 2)) as paid,
        count(*) filter (where is_denied)                           as claims_denied,
        cast(sum(supplemental_paid) as numeric(14, 2))              as supplemental_paid
    from sent
    group by 1, 2

)

select * from final
