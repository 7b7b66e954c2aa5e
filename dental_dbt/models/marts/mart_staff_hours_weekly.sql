-- Staff hours and production per OpenDental time card week and clinic (grain: week_start, clinic_id), from
-- int_clock_events, int_time_adjustments, int_employees, int_procedures_complete and int_practice_settings.
-- clinic_id 0 = none.
-- Weeks are OpenDental's time card weeks: seven days from the practice's TimeCardOvertimeFirstDayOfWeek
-- (int_practice_settings.time_card_first_day_of_week, default 0 = Sunday). OpenDental's weekly overtime
-- (TimeCardRules.CalculateWeeklyOvertime, and FormTimeCard.FillMain's weekly totals) ends a week where
-- Calendar.GetWeekOfYear(date, CalendarWeekRule.FirstFullWeek, (DayOfWeek)TimeCardOvertimeFirstDayOfWeek)
-- changes: under FirstFullWeek the days of January before the first such weekday take the number of the
-- last week of December, so a week runs across New Year unsplit (ClockEvents.GetWeekTotal likewise goes
-- back to the latest first day of the week). Its automatic overtime row is dated on the week's last row at
-- 20:00, so it falls in the week whose hours it moves.
--   week_year, week_of_year  GetWeekOfYear's numbering of the week: the calendar year of week_start and
--                        (day of year of week_start - 1) / 7 + 1 (week 1 starts on the year's first
--                        first-day-of-week; a week starting in late December keeps its December number);
-- Hours as OpenDental's time card counts them (see int_clock_events, int_time_adjustments):
--   regular_hours        clock work rows' regular hours + timeadjust RegHours (week of TimeDisplayed1 /
--                        TimeEntry, clinic of the row);
--   overtime_hours       clock work rows' overtime + timeadjust OTimeHours (OpenDental's automatic weekly
--                        overtime rows move hours from regular to overtime: the total is unchanged);
--   clocked_hours        regular_hours + overtime_hours: paid worked time;
--   pto_hours            timeadjust PtoHours (paid, not worked: not in clocked_hours);
--   clinical_hours       clocked_hours of clinical employees (int_employees.is_clinical: providers such
--                        as hygienists who clock in, and the clinical user group: assistants);
--   employees_clocked    distinct employees with a clock work row;
--   production           completed procedures' charges (ProcDate in the week, procedure's clinic), dollars;
--                        a procedure of no patient row is not production, as in mart_production_daily;
--   production_per_clinical_hour  production / clinical_hours, dollars; NULL without clinical hours.
-- Weeks with hours or production appear; a missing side counts 0.

with clock_events as (

    select * from {{ ref('int_clock_events') }}
    where is_work_row and work_date is not null

),

adjustments as (

    select * from {{ ref('int_time_adjustments') }}
    where entry_date is not null

),

employees as (

    select employee_id, is_clinical from {{ ref('int_employees') }}

),

settings as (

    select time_card_first_day_of_week as first_day from {{ ref('int_practice_settings') }}

),

hour_rows as (

    select
        clock_events.work_date                                      as row_date,
        clock_events.clinic_id,
        clock_events.employee_id,
        true                                                        as is_clock,
        clock_events.regular_seconds,
        clock_events.overtime_seconds,
        cast(0 as bigint)                                           as pto_seconds
    from clock_events
    union all
    select
        adjustments.entry_date,
        adjustments.clinic_id,
        adjustments.employee_id,
        false,
        adjustments.regular_seconds,
        adjustments.overtime_seconds,
        adjustments.pto_seconds
    from adjustments

),

-- the first day of the row's week: back to the latest TimeCardOvertimeFirstDayOfWeek (extract(dow) and
-- .NET's DayOfWeek both number Sunday 0 .. Saturday 6)
weekly_rows as (

    select
        hour_rows.*,
        {{ time_card_week_start('hour_rows.row_date', 'settings.first_day') }} as week_start
    from hour_rows
    cross join settings

),

hours as (

    select
        weekly_rows.week_start,
        weekly_rows.clinic_id,
        sum(weekly_rows.regular_seconds + weekly_rows.overtime_seconds) / 3600.0 as clocked_hours,
        sum(weekly_rows.regular_seconds) / 3600.0                     as regular_hours,
        sum(weekly_rows.overtime_seconds) / 3600.0                    as overtime_hours,
        sum(weekly_rows.pto_seconds) / 3600.0                         as pto_hours,
        coalesce(sum(weekly_rows.regular_seconds + weekly_rows.overtime_seconds)
            filter (where employees.is_clinical), 0) / 3600.0       as clinical_hours,
        count(distinct weekly_rows.employee_id) filter (where weekly_rows.is_clock) as employees_clocked
    from weekly_rows
    left join employees
        on weekly_rows.employee_id = employees.employee_id
    group by 1, 2

),

production as (

    select
        {{ time_card_week_start('procedures.procedure_date', 'settings.first_day') }} as week_start,
        coalesce(procedures.clinic_id, 0)                           as clinic_id,
        sum(procedures.procedure_charge)                            as production
    from {{ ref('int_procedures_complete') }} as procedures
    -- of a patient that exists, as mart_production_daily (RpProdInc.GetDailyProdIncDataSet INNER JOINs patient)
    inner join {{ ref('stg_opendental__patient') }} as patients
        on procedures.patient_id = patients.pat_num
    cross join settings
    where procedures.procedure_date is not null
    group by 1, 2

),

final as (

    select
        coalesce(hours.week_start, production.week_start)          as week_start,
        cast(extract(year from coalesce(hours.week_start, production.week_start)) as integer) as week_year,
        (cast(extract(doy from coalesce(hours.week_start, production.week_start)) as integer) - 1) / 7 + 1
                                                                    as week_of_year,
        coalesce(hours.clinic_id, production.clinic_id)            as clinic_id,
        cast(coalesce(hours.clocked_hours, 0) as numeric(12, 2))   as clocked_hours,
        cast(coalesce(hours.regular_hours, 0) as numeric(12, 2))   as regular_hours,
        cast(coalesce(hours.overtime_hours, 0) as numeric(12, 2))  as overtime_hours,
        cast(coalesce(hours.pto_hours, 0) as numeric(12, 2))       as pto_hours,
        cast(coalesce(hours.clinical_hours, 0) as numeric(12, 2))  as clinical_hours,
        coalesce(hours.employees_clocked, 0)                        as employees_clocked,
        cast(coalesce(production.production, 0) as numeric(14, 2)) as production,
        cast(coalesce(production.production, 0) / nullif(hours.clinical_hours, 0) as numeric(14, 2))
                                                                    as production_per_clinical_hour
    from hours
    full outer join production
        on hours.week_start = production.week_start
        and hours.clinic_id = production.clinic_id

)

select * from final
