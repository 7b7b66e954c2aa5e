select
    t."ClaimTrackingNum"                     as claim_tracking_id,
    t."ClaimNum"                             as claim_id,
    t."TrackingType"                         as tracking_type,
    nullif(t."UserNum", 0)                   as user_id,
    t."DateTimeEntry"                        as entered_at,
    nullif(t."TrackingDefNum", 0)            as tracking_definition_id,
    nullif(t."TrackingErrorDefNum", 0)       as tracking_error_definition_id,
    t."Note"                                 as note,
    c."ClaimStatus"                          as claim_status,
    c."DateSent"                             as claim_sent_date
from raw.claimtracking as t
left join raw.claim as c on c."ClaimNum" = t."ClaimNum"
