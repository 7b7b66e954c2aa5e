-- One row per operatory and day that a provider schedule opens (grain: operatory_id, schedule_date),
-- System G (chair utilization). OpenDental ties a provider's schedule row (schedule, SchedType 1
-- Provider) to the operatories it covers through scheduleop (ScheduleNum, OperatoryNum). A provider row
-- with no scheduleop row opens, as OpenDental's Schedules.GetProvSchedsForOp does, every operatory whose
-- provider it is: ProvDentist of an operatory not marked IsHygiene, ProvHygienist of one marked
-- IsHygiene, and for an operatory without that provider set, the provider named by the preference
-- ScheduleProvUnassigned (int_practice_settings).
--   open_minutes = the minutes of the day covered by at least one of those rows on the operatory:
--                  the union of their [StartTime, StopTime) spans, so two providers scheduled in one
--                  operatory at the same time open it once; a row with StopTime <= StartTime adds 0.
-- Practice rows (SchedType 0: practice hours, notes, holidays), blockouts (2) and employee schedules (3)
-- open no operatory. A schedule row without a date (a sentinel SchedDate) belongs to no day and is left
-- out. clinic_id is the operatory's (operatory.ClinicNum).

with schedules as (

    select * from {{ ref('stg_opendental__schedule') }}
    where sched_type = 1  -- ScheduleType.Provider
        and sched_date is not null

),

schedule_operatories as (

    select * from {{ ref('stg_opendental__scheduleop') }}
    where operatory_num is not null

),

operatories as (

    select * from {{ ref('stg_opendental__operatory') }}

),

unassigned_provider as (

    select schedule_prov_unassigned as prov_num
    from {{ ref('int_practice_settings') }}

),

-- the operatory each provider row opens: its scheduleop rows, else the operatories it is the provider of
schedule_targets as (

    select schedule_num, operatory_num
    from schedule_operatories
    union all
    select schedules.schedule_num, operatories.operatory_num
    from schedules
    cross join unassigned_provider
    inner join operatories
        on case
            when operatories.prov_dentist is not null and not coalesce(operatories.is_hygiene, false)
                then operatories.prov_dentist = schedules.prov_num
            when operatories.prov_hygienist is not null and coalesce(operatories.is_hygiene, false)
                then operatories.prov_hygienist = schedules.prov_num
            else schedules.prov_num = unassigned_provider.prov_num
        end
    where not exists (
        select from schedule_operatories
        where schedule_operatories.schedule_num = schedules.schedule_num
    )

),

spans as (

    select
        schedule_targets.operatory_num                              as operatory_id,
        schedules.sched_date                                        as schedule_date,
        schedules.schedule_num,
        schedules.prov_num,
        schedules.start_time,
        schedules.stop_time
    from schedules
    inner join schedule_targets
        on schedules.schedule_num = schedule_targets.schedule_num

),

-- gaps and islands: a span starts a new island when it begins after every earlier span of the
-- operatory and day has stopped
ordered as (

    select
        *,
        max(stop_time) over (
            partition by operatory_id, schedule_date
            order by start_time, stop_time, schedule_num
            rows between unbounded preceding and 1 preceding
        )                                                           as earlier_stop
    from spans
    where stop_time > start_time

),

islands as (

    select
        *,
        sum(case when earlier_stop is null or start_time > earlier_stop then 1 else 0 end) over (
            partition by operatory_id, schedule_date
            order by start_time, stop_time, schedule_num
            rows unbounded preceding
        )                                                           as island
    from ordered

),

island_minutes as (

    select
        operatory_id,
        schedule_date,
        extract(epoch from max(stop_time) - min(start_time)) / 60  as minutes
    from islands
    group by operatory_id, schedule_date, island

),

open_time as (

    select
        operatory_id,
        schedule_date,
        cast(sum(minutes) as integer)                               as open_minutes
    from island_minutes
    group by 1, 2

),

day_rows as (

    select
        operatory_id,
        schedule_date,
        count(*)                                                    as schedule_row_count,
        count(distinct prov_num)                                    as provider_count,
        min(start_time)                                             as first_start_time,
        max(stop_time)                                              as last_stop_time
    from spans
    group by 1, 2

),

final as (

    select
        day_rows.operatory_id,
        day_rows.schedule_date,
        operatories.clinic_num                                      as clinic_id,
        coalesce(open_time.open_minutes, 0)                         as open_minutes,
        day_rows.schedule_row_count,
        day_rows.provider_count,
        day_rows.first_start_time,
        day_rows.last_stop_time
    from day_rows
    left join open_time
        on day_rows.operatory_id = open_time.operatory_id
        and day_rows.schedule_date = open_time.schedule_date
    left join operatories
        on day_rows.operatory_id = operatories.operatory_num

)

select * from final
