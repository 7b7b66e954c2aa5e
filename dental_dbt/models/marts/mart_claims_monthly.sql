-- Insurance claims per month sent and carrier (grain: month, carrier_id), primary and secondary
-- claims only (claim.ClaimType 'P', 'S'; pre-authorizations and capitation claims left out):
--   claims_sent: claims with DateSent in the month;
--   claims_received: of those, received (ClaimStatus 'R') with a DateReceived;
--   days_to_payment_median / _p90: DateReceived - DateSent of the received claims (days);
--   zero_pay_rate: received claims paid $0 (denied or fully applied to deductible) / received claims;
--   estimate_accuracy: sum(InsPayAmt) / sum(InsPayEst) of the received claims (1 = estimates held);
--   billed_fee, estimated, paid: ClaimFee, InsPayEst, InsPayAmt sums (dollars).
-- carrier_id is insplan.CarrierNum of the claim's plan; 0 when the plan is unknown.

with claims as (

    select * from {{ ref('stg_opendental__claim') }}

),

plans as (

    select * from {{ ref('stg_opendental__insplan') }}

),

sent as (

    select
        cast(date_trunc('month', claims.date_sent) as date)         as month,
        coalesce(plans.carrier_num, 0)                              as carrier_id,
        claims.claim_status = 'R' and claims.date_received is not null as is_received,
        claims.date_received - claims.date_sent                     as days_to_payment,
        cast(coalesce(claims.claim_fee, 0) as numeric(14, 2))       as claim_fee,
        cast(coalesce(claims.ins_pay_est, 0) as numeric(14, 2))     as ins_pay_est,
        cast(coalesce(claims.ins_pay_amt, 0) as numeric(14, 2))     as ins_pay_amt
    from claims
    left join plans
        on claims.plan_num = plans.plan_num
    where claims.claim_type in ('P', 'S')
        and claims.date_sent is not null

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
        cast((count(*) filter (where is_received and ins_pay_amt = 0))::numeric
             / nullif(count(*) filter (where is_received), 0) as numeric(7, 4)) as zero_pay_rate,
        cast(sum(ins_pay_amt) filter (where is_received)
             / nullif(sum(ins_pay_est) filter (where is_received), 0) as numeric(9, 4)) as estimate_accuracy,
        cast(sum(claim_fee) as numeric(14, 2))                      as billed_fee,
        cast(sum(ins_pay_est) as numeric(14, 2))                    as estimated,
        cast(coalesce(sum(ins_pay_amt) filter (where is_received), 0) as numeric(14, 2)) as paid
    from sent
    group by 1, 2

)

select * from final
