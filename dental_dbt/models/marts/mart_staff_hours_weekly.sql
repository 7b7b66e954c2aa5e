-- Staff hours and production per ISO week (Monday start) and clinic (grain: week_start, clinic_id), from
-- int_clock_events, int_time_adjustments, int_employees and int_procedures_complete. clinic_id 0 = none.
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

hours as (

    select
        cast(date_trunc('week', hour_rows.row_date) as date)        as week_start,
        hour_rows.clinic_id,
        sum(hour_rows.regular_seconds + hour_rows.overtime_seconds) / 3600.0 as clocked_hours,
        sum(hour_rows.regular_seconds) / 3600.0                     as regular_hours,
        sum(hour_rows.overtime_seconds) / 3600.0                    as overtime_hours,
        sum(hour_rows.pto_seconds) / 3600.0                         as pto_hours,
        coalesce(sum(hour_rows.regular_seconds + hour_rows.overtime_seconds)
            filter (where employees.is_clinical), 0) / 3600.0       as clinical_hours,
        count(distinct hour_rows.employee_id) filter (where hour_rows.is_clock) as employees_clocked
    from hour_rows
    left join employees
        on hour_rows.employee_id = employees.employee_id
    group by 1, 2

),

production as (

    select
        cast(date_trunc('week', procedure_date) as date)            as week_start,
        coalesce(clinic_id, 0)                                      as clinic_id,
        sum(procedure_charge)                                       as production
    from {{ ref('int_procedures_complete') }}
    where procedure_date is not null
    group by 1, 2

),

final as (

    select
        coalesce(hours.week_start, production.week_start)          as week_start,
        cast(extract(isoyear from coalesce(hours.week_start, production.week_start)) as integer) as iso_year,
        cast(extract(week from coalesce(hours.week_start, production.week_start)) as integer)    as iso_week,
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
