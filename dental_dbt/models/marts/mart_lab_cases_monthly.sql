-- Lab cases per month of the sent date and laboratory (grain: month, laboratory_id), from int_lab_cases.
-- month = first day of the month of labcase.DateTimeSent; laboratory_id 0 = no laboratory. As of the
-- run's as-of date (run setting as_of_date, else today):
--   cases_sent                 cases sent in the month;
--   cases_received             of them, received (DateTimeRecd set);
--   cases_out                  of them, not received yet (still out at the lab);
--   avg_turnaround_days        mean of received_date - sent_date over the received cases (calendar days);
--   median_turnaround_days     median of the same (percentile_cont 0.5);
--   late_cases                 received on a date after the due date, or not received and due before
--                              the as-of date (a case received on its due date is on time);
--   lab_fees                   sum of labcase.LabFee, dollars.
-- A case without a sent date belongs to no month and is left out.

{%- set as_of = run_setting('as_of_date') %}

with lab_cases as (

    select * from {{ ref('int_lab_cases') }}
    where sent_date is not null

),

run_date as (

    select {% if as_of %}cast('{{ as_of }}' as date){% else %}current_date{% endif %} as as_of_date

),

final as (

    select
        cast(date_trunc('month', lab_cases.sent_date) as date)     as month,
        coalesce(lab_cases.laboratory_id, 0)                        as laboratory_id,
        coalesce(min(lab_cases.laboratory), 'none')                 as laboratory,
        count(*)                                                    as cases_sent,
        count(*) filter (where lab_cases.is_received)               as cases_received,
        count(*) filter (where not lab_cases.is_received)           as cases_out,
        cast(avg(lab_cases.turnaround_days) as numeric(10, 2))      as avg_turnaround_days,
        cast(percentile_cont(0.5) within group (order by lab_cases.turnaround_days)
            as numeric(10, 2))                                      as median_turnaround_days,
        count(*) filter (
            where lab_cases.is_received_late
                or (not lab_cases.is_received and lab_cases.due_date < run_date.as_of_date)
        )                                                           as late_cases,
        cast(sum(lab_cases.lab_fee) as numeric(14, 2))              as lab_fees
    from lab_cases
    cross join run_date
    group by 1, 2

)

select * from final
