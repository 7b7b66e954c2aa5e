-- Communications per month, purpose, mode and direction (grain: month, purpose_id, mode, direction),
-- from int_communications (commlog). month = first day of the month of commlog.CommDateTime; purpose_id
-- 0 = no purpose (CommType 0). Counts (rows of commlog):
--   communication_count   every communication, orphans included;
--   orphan_count          communications whose PatNum matches no patient (see int_communications);
--   patients_reached      distinct patients with a communication in the group (orphans reach nobody);
--   automated_count       automated communications (int_communications.is_automated), as OpenDental's
--                         Commlogs.IsAutomated decides: the commlog type's ItemValue parses as a
--                         CommItemTypeAuto (APPT, FIN, RECALL, ...) and CommSource is not User (0) or the
--                         type is FHIR. A commlog of no type (CommType 0) or of a type without such a
--                         value is never automated, whatever its source; an automated reminder sent while
--                         a user is logged on carries that user's UserNum, so UserNum 0 alone misses it;
--   total_minutes         sum of duration_minutes (minutes; communications without an end count 0).
-- A commlog without a date (a sentinel CommDateTime) belongs to no month and is left out.

with communications as (

    select * from {{ ref('int_communications') }}
    where communication_date is not null

),

final as (

    select
        cast(date_trunc('month', communication_date) as date)      as month,
        coalesce(purpose_id, 0)                                     as purpose_id,
        min(purpose)                                                as purpose,
        mode,
        direction,
        count(*)                                                    as communication_count,
        count(*) filter (where is_orphan)                           as orphan_count,
        count(distinct patient_id)                                  as patients_reached,
        count(*) filter (where is_automated)                        as automated_count,
        coalesce(sum(duration_minutes), 0)                          as total_minutes
    from communications
    group by 1, 2, 4, 5

)

select * from final
