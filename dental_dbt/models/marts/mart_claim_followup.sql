-- Open insurance claims and their follow-up, one row per claim (grain: claim_id), as of the run's as-of
-- date (run setting as_of_date, default today). An open claim is one OpenDental's Outstanding Insurance
-- Claims report lists: ClaimStatus 'S' (sent, not received; OpenDentBusiness/Reports/RpOutstandingIns.cs),
-- sent on or before as_of_date (int_claims: claim_status_name 'sent'). Unsent (U), held (H, I), waiting (W),
-- probably sent (P) and received (R) claims are not open.
--   days_since_sent_days           as_of_date - DateSent;
--   follow_up_count                the claim's follow-up entries (claimtracking rows of TrackingType
--                                  StatusHistory, OpenDental's custom tracking) dated on or before as_of_date;
--   last_follow_up_date            the day of the latest of them (NULL when none);
--   days_since_follow_up_days      as_of_date - last_follow_up_date, or as_of_date - DateSent when none;
--   last_tracking_status           the latest entry's ClaimCustomTracking definition name ('none' when
--                                  the claim has no entry);
--   follow_up_bucket               days_since_follow_up_days: '0-30' (<= 30), '31-60', '61-90', '90+' (> 90);
--   needs_followup                 no follow-up entry in the last 30 days: days_since_follow_up_days > 30
--                                  (an entry exactly 30 days ago still counts). The practice's own rule of
--                                  thumb; OpenDental's report decides by the status instead:
--   suppressed_until               the latest entry's day + its status's days_suppressed (ClaimCustomTracking
--                                  ItemValue): OpenDental's Outstanding Insurance report hides the claim
--                                  until then (FormRpOutstandingIns: DateLog + DaysSuppressed > today);
--                                  NULL without an entry;
--   on_outstanding_report          the report lists the claim on as_of_date: no entry, or suppressed_until
--                                  on or before as_of_date.

with run_date as (

    select {{ as_of_date() }} as as_of_date

),

open_claims as (

    select
        claims.claim_id,
        claims.patient_id,
        claims.clinic_id,
        claims.insurance_plan_id,
        claims.carrier_id,
        claims.claim_type_name,
        claims.date_sent,
        claims.billed_fee,
        claims.estimate
    from {{ ref('int_claims') }} as claims
    cross join run_date
    where claims.claim_status_name = 'sent'
        and claims.date_sent <= run_date.as_of_date

),

follow_ups as (

    select
        tracking.claim_id,
        tracking.tracked_at,
        tracking.tracked_date,
        tracking.tracking_status,
        tracking.days_suppressed,
        tracking.claim_tracking_id,
        row_number() over (
            partition by tracking.claim_id
            order by tracking.tracked_at desc, tracking.claim_tracking_id desc
        )                                                           as recency
    from {{ ref('int_claim_tracking') }} as tracking
    cross join run_date
    where tracking.is_follow_up
        and tracking.tracked_date <= run_date.as_of_date

),

per_claim as (

    select
        claim_id,
        count(*)                                                    as follow_up_count,
        max(tracked_date)                                           as last_follow_up_date,
        max(tracking_status) filter (where recency = 1)             as last_tracking_status,
        max(tracked_date + days_suppressed) filter (where recency = 1) as suppressed_until
    from follow_ups
    group by claim_id

),

measured as (

    select
        open_claims.*,
        run_date.as_of_date,
        run_date.as_of_date - open_claims.date_sent                 as days_since_sent_days,
        coalesce(per_claim.follow_up_count, 0)                      as follow_up_count,
        per_claim.last_follow_up_date,
        run_date.as_of_date - coalesce(per_claim.last_follow_up_date, open_claims.date_sent)
                                                                    as days_since_follow_up_days,
        coalesce(per_claim.last_tracking_status, 'none')            as last_tracking_status,
        per_claim.suppressed_until
    from open_claims
    cross join run_date
    left join per_claim
        on open_claims.claim_id = per_claim.claim_id

),

final as (

    select
        claim_id,
        patient_id,
        clinic_id,
        insurance_plan_id,
        carrier_id,
        claim_type_name,
        as_of_date,
        date_sent,
        billed_fee,
        estimate,
        days_since_sent_days,
        follow_up_count,
        last_follow_up_date,
        days_since_follow_up_days,
        last_tracking_status,
        case
            when days_since_follow_up_days <= 30 then '0-30'
            when days_since_follow_up_days <= 60 then '31-60'
            when days_since_follow_up_days <= 90 then '61-90'
            else '90+'
        end                                                         as follow_up_bucket,
        days_since_follow_up_days > 30                              as needs_followup,
        suppressed_until,
        coalesce(suppressed_until <= as_of_date, true)              as on_outstanding_report
    from measured

)

select * from final
