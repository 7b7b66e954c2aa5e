-- Security log activity per day, user and permission (grain: activity_date, user_id, permission), from
-- int_security_log_activity (securitylog). Counts (rows of securitylog):
--   event_count        entries logged that day by that user under that permission;
--   patients_touched   distinct patients (securitylog.PatNum) the entries name.
-- user_id 0 = no user; permission is OpenDental's EnumPermType name ('unknown' for a code 24.3 does not
-- define). No LogText. An entry without a date (a sentinel LogDateTime) belongs to no day and is left out.

with activity as (

    select * from {{ ref('int_security_log_activity') }}
    where log_date is not null

),

final as (

    select
        log_date                                                    as activity_date,
        coalesce(user_id, 0)                                        as user_id,
        permission,
        min(perm_type_code)                                         as perm_type_code,
        count(*)                                                    as event_count,
        count(distinct patient_id)                                  as patients_touched
    from activity
    group by 1, 2, 3

)

select * from final
