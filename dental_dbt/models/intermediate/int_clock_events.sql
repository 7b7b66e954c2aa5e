-- One row per OpenDental clock event (clockevent.ClockEventNum) with its paid hours as OpenDental's time
-- card counts them (OpenDentBusiness/Data Interface/TimeCardRules.cs, ClockEvent.cs):
--   A row with ClockStatus Home (0) or Lunch (1) is a clock-in/clock-out pair of work (the status is why
--   the employee clocked out). A Break (2) row is an out/in pair inside a work pair: it is not added (the
--   work pair already covers it; OpenDental deducts over-long breaks through AdjustAuto on the work row).
--   paid_seconds     = TimeDisplayed2 - TimeDisplayed1 + (Adjust if AdjustIsOverridden else AdjustAuto),
--                      for work rows that are clocked out; 0 for breaks and open rows;
--   overtime_seconds = OTimeHours when overridden (anything but -01:00:00) else OTimeAuto (work rows);
--   regular_seconds  = paid_seconds - overtime_seconds.
-- Seconds (integers) so that sums are exact; the marts convert to hours.
-- work_date: the date of TimeDisplayed1 (OpenDental forbids a pair spanning two dates).

with clock_events as (

    select * from {{ ref('stg_opendental__clockevent') }}

),

typed as (

    select
        clock_event_num                                             as clock_event_id,
        employee_num                                                as employee_id,
        coalesce(clinic_num, 0)                                     as clinic_id,
        clock_status_code,
        case clock_status_code when 0 then 'home' when 1 then 'lunch' when 2 then 'break' else 'unknown' end
                                                                    as clock_status,
        time_displayed_1                                            as clock_in_at,
        time_displayed_2                                            as clock_out_at,
        cast(time_displayed_1 as date)                              as work_date,
        clock_status_code in (0, 1) and time_displayed_2 is not null as is_work_row,
        cast(extract(epoch from time_displayed_2 - time_displayed_1) as bigint) as span_seconds,
        cast(extract(epoch from case when adjust_is_overridden then adjust else adjust_auto end) as bigint)
                                                                    as adjust_seconds,
        cast(extract(epoch from
            case when o_time_hours <> interval '-1 hour' then o_time_hours else o_time_auto end) as bigint)
                                                                    as ot_seconds
    from clock_events

),

final as (

    select
        clock_event_id,
        employee_id,
        clinic_id,
        clock_status_code,
        clock_status,
        clock_in_at,
        clock_out_at,
        work_date,
        is_work_row,
        case when is_work_row then span_seconds + adjust_seconds else 0 end             as paid_seconds,
        case when is_work_row then ot_seconds else 0 end                                as overtime_seconds,
        case when is_work_row then span_seconds + adjust_seconds - ot_seconds else 0 end as regular_seconds
    from typed

)

select * from final
