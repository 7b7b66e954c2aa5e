-- The practice's own settings that OpenDental's Aging of A/R and Production and Income reports and its
-- time card branch on, one row, read from OpenDental's preference table (PrefName / ValueString) and the definition
-- table, with OpenDental 24.3's defaults where a preference is missing or unset
-- (docs/opendental_aging.md section 1, docs/dbt.md "Practice settings").
--   aging_proc_lifo            AgingProcLifo: YN stored as 1 yes / 2 no / anything else "unknown",
--                              which OpenDental 24.3 treats as on (YN_DEFAULT_TRUE)
--   pay_plans_version          PayPlansVersion: 1 Do Not Age, 2 Age Credits and Debits (default),
--                              3 Age Credits Only, 4 No Charges to Account; kept as stored
--   bill_in_advance_days       PayPlansBillInAdvanceDays (default 10; an unparsable value reads as 0)
--   writeoff_date_mode         ReportsPPOwriteoffDefaultToProcDate: 0 insurance pay date (default),
--                              1 procedure date, 2 claim date; another value opens the report on 2
--   schedule_prov_unassigned   ScheduleProvUnassigned: the provider whose schedule opens an operatory
--                              without its own provider (int_operatory_schedule); 0 (none) by default
--   time_card_first_day_of_week  TimeCardOvertimeFirstDayOfWeek: the day a time card week starts on, as
--                              .NET's DayOfWeek (0 Sunday .. 6 Saturday; PostgreSQL's extract(dow) numbers
--                              days the same). OpenDental splits weeks for weekly overtime with it
--                              (TimeCardRules.CalculateWeeklyOvertime, FormTimeCard.FillMain: GetWeekOfYear
--                              (..., CalendarWeekRule.FirstFullWeek, (DayOfWeek)PrefC.GetInt(...))). Default 0,
--                              Sunday (ConvertDatabases2.cs inserts '0'); a value outside 0-6 reads as 0, the
--                              value Database Maintenance (PreferenceTimeCardOvertimeFirstDayOfWeek) sets.
-- The unearned types marked "Do Not Show on Account" (a definition flag, not a preference) are
-- int_hidden_unearned_types.

with preferences as (

    select * from {{ ref('stg_opendental__preference') }}

),

-- OpenDental reads a preference's integer with PIn.Int/PIn.Long: text that is not an integer reads as 0
parsed as (

    select
        pref_name,
        case when trim(value_string) ~ '^-?[0-9]{1,9}$' then cast(trim(value_string) as integer) else 0 end
                                                                    as value_int
    from preferences

),

picked as (

    select
        max(value_int) filter (where pref_name = 'AgingProcLifo')                       as aging_proc_lifo_code,
        max(value_int) filter (where pref_name = 'PayPlansVersion')                     as pay_plans_version,
        max(value_int) filter (where pref_name = 'PayPlansBillInAdvanceDays')           as bill_in_advance_days,
        max(value_int) filter (where pref_name = 'ReportsPPOwriteoffDefaultToProcDate') as writeoff_date_code,
        max(value_int) filter (where pref_name = 'ScheduleProvUnassigned')              as schedule_prov_unassigned,
        max(value_int) filter (where pref_name = 'TimeCardOvertimeFirstDayOfWeek')      as time_card_first_day
    from parsed

),

final as (

    select
        coalesce(picked.aging_proc_lifo_code, 0) <> 2                as aging_proc_lifo,
        coalesce(picked.aging_proc_lifo_code, 0)                    as aging_proc_lifo_code,
        coalesce(picked.pay_plans_version, 2)                       as pay_plans_version,
        coalesce(picked.bill_in_advance_days, 10)                   as bill_in_advance_days,
        case when coalesce(picked.writeoff_date_code, 0) in (0, 1) then coalesce(picked.writeoff_date_code, 0)
             else 2 end                                             as writeoff_date_mode,
        coalesce(picked.schedule_prov_unassigned, 0)                as schedule_prov_unassigned,
        case when picked.time_card_first_day between 0 and 6 then picked.time_card_first_day else 0 end
                                                                    as time_card_first_day_of_week
    from picked

)

select * from final
