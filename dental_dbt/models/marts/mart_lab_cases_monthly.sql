-- Lab cases per month of the sent date and laboratory (grain: month, laboratory_id), from int_lab_cases.
-- month = first day of the month of labcase.DateTimeSent; laboratory_id 0 = no laboratory. As of the
-- run's as-of date (run setting as_of_date, else today), as mart_perio_followup and mart_claim_followup
-- cut their dates: a case counts only if sent on or before it, and is back only if received or checked
-- on or before it (a back-dated run sees a case received later as still out).
-- A case is back when received or quality checked (int_lab_cases: OpenDental's lab case list tests
-- DateTimeChecked first, LabCases.Refresh); its back date is DateTimeRecd's date, else DateTimeChecked's,
-- among those on or before the as-of date:
--   cases_sent                 cases sent in the month;
--   cases_received             of them, back (received or checked);
--   cases_out                  of them, not back yet (still out at the lab);
--   avg_turnaround_days        mean of back date - sent date over the cases back (calendar days);
--   median_turnaround_days     median of the same (percentile_cont 0.5);
--   late_cases                 back on a date after the due date, or not back and due before the as-of
--                              date (a case back on its due date is on time; OpenDental shows the due
--                              date only for a case neither received nor checked);
--   lab_fees                   sum of labcase.LabFee, dollars.
-- A case without a sent date belongs to no month and is left out.

with lab_cases as (

    select * from {{ ref('int_lab_cases') }}
    where sent_date is not null

),

run_date as (

    select {{ as_of_date() }} as as_of_date

),

as_of_cases as (

    select
        lab_cases.laboratory_id,
        lab_cases.laboratory,
        lab_cases.sent_date,
        lab_cases.due_date,
        lab_cases.lab_fee,
        run_date.as_of_date,
        coalesce(
            case when cast(lab_cases.received_at as date) <= run_date.as_of_date
                 then cast(lab_cases.received_at as date) end,
            case when lab_cases.checked_date <= run_date.as_of_date then lab_cases.checked_date end
        )                                                           as back_date
    from lab_cases
    cross join run_date
    where lab_cases.sent_date <= run_date.as_of_date

),

final as (

    select
        cast(date_trunc('month', sent_date) as date)                as month,
        coalesce(laboratory_id, 0)                                  as laboratory_id,
        coalesce(min(laboratory), 'none')                           as laboratory,
        count(*)                                                    as cases_sent,
        count(back_date)                                            as cases_received,
        count(*) - count(back_date)                                 as cases_out,
        cast(avg(back_date - sent_date) as numeric(10, 2))          as avg_turnaround_days,
        cast(percentile_cont(0.5) within group (order by back_date - sent_date)
            as numeric(10, 2))                                      as median_turnaround_days,
        count(*) filter (
            where back_date > due_date
                or (back_date is null and due_date < as_of_date)
        )                                                           as late_cases,
        cast(sum(lab_fee) as numeric(14, 2))                        as lab_fees
    from as_of_cases
    group by 1, 2

)

select * from final
