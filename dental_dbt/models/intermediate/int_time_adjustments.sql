-- One row per OpenDental time card adjustment (timeadjust.TimeAdjustNum), hours as OpenDental's time card
-- adds them (OpenDentBusiness/Data Interface/TimeCardRules.cs): RegHours to regular time (negative on
-- the automatic weekly-overtime rows, which move hours from regular to overtime: IsAuto), OTimeHours to
-- overtime; an unpaid protected leave row adds nothing. PtoHours: paid time off (not worked), PtoDefNum
-- its TimeCardAdjTypes definition. entry_date: the date of TimeEntry. Durations in seconds (exact sums).

with adjustments as (

    select * from {{ ref('stg_opendental__timeadjust') }}

),

final as (

    select
        time_adjust_num                                             as time_adjust_id,
        employee_num                                                as employee_id,
        coalesce(clinic_num, 0)                                     as clinic_id,
        cast(time_entry as date)                                    as entry_date,
        coalesce(is_auto, false)                                    as is_auto,
        coalesce(is_unpaid_protected_leave, false)                  as is_unpaid_protected_leave,
        pto_def_num                                                 as pto_definition_id,
        case when coalesce(is_unpaid_protected_leave, false) then 0
             else cast(extract(epoch from reg_hours) as bigint) end as regular_seconds,
        case when coalesce(is_unpaid_protected_leave, false) then 0
             else cast(extract(epoch from o_time_hours) as bigint) end as overtime_seconds,
        cast(extract(epoch from pto_hours) as bigint)               as pto_seconds
    from adjustments

)

select * from final
