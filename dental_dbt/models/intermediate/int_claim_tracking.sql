-- One row per claim tracking entry (claimtracking.ClaimTrackingNum). OpenDental stores the kind as the
-- name of its ClaimTrackingType enum (OpenDentBusiness/TableTypes/ClaimTracking.cs): StatusHistory (a
-- custom tracking status set on the claim, TrackingDefNum = a ClaimCustomTracking definition),
-- ClaimUser (the claim assigned to a user), ClaimProcReceived (procedures received).
--   tracking_type     claimtracking.TrackingType as stored;
--   is_follow_up      a StatusHistory entry: the follow-up work the Outstanding Insurance report shows
--                     as the claim's status (OpenDentBusiness/Reports/RpOutstandingIns.cs);
--   tracking_status   definition.ItemName of TrackingDefNum (category ClaimCustomTracking, 31); 'none'
--                     when TrackingDefNum is 0, 'unknown' when it is no such definition;
--   days_suppressed   that definition's ItemValue as whole days: how long the Outstanding Insurance
--                     report hides a claim after the entry (RpOutstandingIns.cs reads it as
--                     DaysSuppressed); 0 when it is not a whole number or there is no definition.
-- No note text.

with tracking as (

    select * from {{ ref('stg_opendental__claimtracking') }}

),

statuses as (

    select
        def_num,
        item_name,
        case when trim(item_value) ~ '^-?[0-9]{1,6}$' then cast(trim(item_value) as integer) else 0 end
                                                                    as days_suppressed
    from {{ ref('stg_opendental__definition') }}
    where category = 31  -- DefCat.ClaimCustomTracking

),

final as (

    select
        tracking.claim_tracking_num                                 as claim_tracking_id,
        tracking.claim_num                                          as claim_id,
        tracking.tracking_type,
        tracking.tracking_type = 'StatusHistory'                    as is_follow_up,
        tracking.date_time_entry                                    as tracked_at,
        cast(tracking.date_time_entry as date)                      as tracked_date,
        tracking.user_num                                           as user_id,
        tracking.tracking_def_num                                   as tracking_status_id,
        case
            when tracking.tracking_def_num is null then 'none'
            else coalesce(statuses.item_name, 'unknown')
        end                                                         as tracking_status,
        coalesce(statuses.days_suppressed, 0)                       as days_suppressed
    from tracking
    left join statuses
        on tracking.tracking_def_num = statuses.def_num

)

select * from final
