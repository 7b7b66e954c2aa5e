-- One row per insurance claim (claim.ClaimNum), System B insurance: type and status decoded, the
-- claim's life cycle in days (claim tracking) and its money in dollars.
--   claim_type_name   claim.ClaimType: P primary, S secondary, PreAuth preauth, Other other, Cap
--                     capitation; any other text 'unknown';
--   claim_status_name claim.ClaimStatus: U unsent, H hold_until_primary_received, W waiting_to_send,
--                     P probably_sent, S sent, R received, I hold_in_process; any other text 'unknown';
--   is_sent           sent: ClaimStatus S, R or P (probably sent), with a DateSent. OpenDental fills
--                     DateSent when it creates a claim (Claim.cs: "Usually the date it was created"),
--                     so a DateSent alone proves nothing: its Claims Not Sent report lists U, H, W and
--                     I as not sent (RpClaimNotSent.cs). A resend overwrites DateSent (Claims.
--                     SetClaimSent); DateSentOrig keeps the first;
--                     is_received: ClaimStatus R with a DateReceived;
--   days_to_send      DateSent - DateService of a sent claim (NULL otherwise); days_to_payment:
--                     DateReceived - DateSent of a received claim (NULL otherwise: not received, or a
--                     date missing); days_service_to_payment: DateReceived - DateService (the whole
--                     cycle); days_to_final_payment: the last
--                     payment_date (DateCP) of its Received/Supplemental lines - DateSent. Days are
--                     calendar days, negative when OpenDental holds the dates out of order;
--   billed_fee, estimate, paid, write_off, deductible: the claim's own totals, claim.ClaimFee, InsPayEst,
--                     InsPayAmt, WriteOff, DedApplied (OpenDental keeps them as the sums of the claim's
--                     claimprocs, supplementals included);
--   claimproc_*       the same recomputed from the claim's claimprocs (int_claim_procedures):
--                     claimproc_paid = InsPayAmt of its Received (received_paid) and Supplemental
--                     (supplemental_paid) lines; paid_difference = paid - claimproc_paid, 0 unless a
--                     claimproc left the claim (e.g. ClaimNum set to 0, see docs/dbt.md "Dirty data");
--   is_zero_pay       received and paid $0; is_denied: received, paid $0 while estimate > $0;
--   estimate_accuracy paid / estimate of a received claim (1 = the estimate held; NULL when the
--                     estimate is 0).
-- carrier_id is insplan.CarrierNum of the claim's plan (NULL when the plan is unknown).

with claims as (

    select * from {{ ref('stg_opendental__claim') }}

),

plans as (

    select * from {{ ref('stg_opendental__insplan') }}

),

lines as (

    select
        claim_id,
        count(*)                                                    as claimproc_count,
        count(*) filter (where not is_supplemental)                 as procedure_line_count,
        count(*) filter (where is_supplemental)                     as supplemental_count,
        cast(sum(fee_billed) as numeric(14, 2))                     as claimproc_fee_billed,
        cast(sum(estimate) as numeric(14, 2))                       as claimproc_estimate,
        cast(coalesce(sum(paid) filter (where is_received), 0) as numeric(14, 2)) as received_paid,
        cast(coalesce(sum(paid) filter (where is_supplemental), 0) as numeric(14, 2)) as supplemental_paid,
        cast(sum(write_off) as numeric(14, 2))                      as claimproc_write_off,
        cast(sum(deductible) as numeric(14, 2))                     as claimproc_deductible,
        max(payment_date) filter (where is_payment)                 as last_payment_date
    from {{ ref('int_claim_procedures') }}
    where claim_id is not null
    group by claim_id

),

joined as (

    select
        claims.claim_num                                            as claim_id,
        claims.pat_num                                              as patient_id,
        claims.plan_num                                             as insurance_plan_id,
        plans.carrier_num                                           as carrier_id,
        claims.ins_sub_num                                          as insurance_subscriber_id,
        claims.clinic_num                                           as clinic_id,
        claims.prov_treat                                           as provider_id,
        claims.prov_bill                                            as billing_provider_id,
        claims.claim_type,
        case claims.claim_type
            when 'P' then 'primary'
            when 'S' then 'secondary'
            when 'PreAuth' then 'preauth'
            when 'Other' then 'other'
            when 'Cap' then 'capitation'
            else 'unknown'
        end                                                         as claim_type_name,
        claims.claim_status,
        case claims.claim_status
            when 'U' then 'unsent'
            when 'H' then 'hold_until_primary_received'
            when 'W' then 'waiting_to_send'
            when 'P' then 'probably_sent'
            when 'S' then 'sent'
            when 'R' then 'received'
            when 'I' then 'hold_in_process'
            else 'unknown'
        end                                                         as claim_status_name,
        claims.date_service,
        claims.date_sent,
        claims.date_received,
        lines.last_payment_date,
        coalesce(claims.claim_status in ('S', 'R', 'P'), false)
            and claims.date_sent is not null                        as is_sent,
        coalesce(claims.claim_status = 'R', false)
            and claims.date_received is not null                    as is_received,
        cast(coalesce(claims.claim_fee, 0) as numeric(14, 2))       as billed_fee,
        cast(coalesce(claims.ins_pay_est, 0) as numeric(14, 2))     as estimate,
        cast(coalesce(claims.ins_pay_amt, 0) as numeric(14, 2))     as paid,
        cast(coalesce(claims.write_off, 0) as numeric(14, 2))       as write_off,
        cast(coalesce(claims.ded_applied, 0) as numeric(14, 2))     as deductible,
        coalesce(lines.claimproc_count, 0)                          as claimproc_count,
        coalesce(lines.procedure_line_count, 0)                     as procedure_line_count,
        coalesce(lines.supplemental_count, 0)                       as supplemental_count,
        cast(coalesce(lines.claimproc_fee_billed, 0) as numeric(14, 2)) as claimproc_fee_billed,
        cast(coalesce(lines.claimproc_estimate, 0) as numeric(14, 2)) as claimproc_estimate,
        cast(coalesce(lines.received_paid, 0) as numeric(14, 2)) as received_paid,
        cast(coalesce(lines.supplemental_paid, 0) as numeric(14, 2)) as supplemental_paid,
        cast(coalesce(lines.received_paid, 0)
             + coalesce(lines.supplemental_paid, 0) as numeric(14, 2)) as claimproc_paid,
        cast(coalesce(lines.claimproc_write_off, 0) as numeric(14, 2)) as claimproc_write_off,
        cast(coalesce(lines.claimproc_deductible, 0) as numeric(14, 2)) as claimproc_deductible
    from claims
    left join plans
        on claims.plan_num = plans.plan_num
    left join lines
        on claims.claim_num = lines.claim_id

),

final as (

    select
        *,
        case when is_sent then date_sent - date_service end         as days_to_send,
        case when is_received then date_received - date_sent end   as days_to_payment,
        case when is_received then date_received - date_service end as days_service_to_payment,
        last_payment_date - date_sent                               as days_to_final_payment,
        cast(paid - claimproc_paid as numeric(14, 2))               as paid_difference,
        is_received and paid = 0                                    as is_zero_pay,
        is_received and paid = 0 and estimate > 0                   as is_denied,
        cast(case when is_received then paid / nullif(estimate, 0) end as numeric(9, 4))
                                                                    as estimate_accuracy
    from joined

)

select * from final
