-- One row per OpenDental lab case (labcase.LabCaseNum): patient, laboratory, the appointment the case is
-- for (labcase.AptNum: the seat visit), provider, when it was created, sent, due, received and checked,
-- and the lab fee in dollars. Dates are the calendar dates of the datetimes; a sentinel date (case not
-- received / not checked yet) is NULL. No instructions text.
-- A case is back from the lab when it is received or quality checked: OpenDental's lab case list
-- (LabCases.Refresh), the appointment's lab line (Appointments.GetMiscTable) and the appointment window
-- (FormApptEdit.GetLabCaseDescript) test DateTimeChecked first ("Quality Checked"), then DateTimeRecd
-- ("Received"); only a case with neither shows "Sent"/"Not Sent" and its due date. Run-date cuts (a case
-- received after a back-dated run's as-of date) are the mart's (mart_lab_cases_monthly).
--   received_date        the date the case came back: DateTimeRecd's date, else DateTimeChecked's (a case
--                        checked without a received date); NULL while the case is out;
--   is_received          DateTimeRecd or DateTimeChecked is set;
--   turnaround_days      received_date - sent_date (calendar days); NULL while the case is out;
--   is_received_late     received on a later date than the due date (received on the due date is on time).

with lab_cases as (

    select * from {{ ref('stg_opendental__labcase') }}

),

laboratories as (

    select * from {{ ref('stg_opendental__laboratory') }}

),

dated as (

    select
        lab_cases.*,
        cast(lab_cases.date_time_sent as date)                      as sent_date,
        cast(lab_cases.date_time_due as date)                       as due_date,
        cast(lab_cases.date_time_checked as date)                   as checked_date,
        coalesce(cast(lab_cases.date_time_recd as date), cast(lab_cases.date_time_checked as date))
                                                                    as received_date
    from lab_cases

),

final as (

    select
        dated.lab_case_num                                          as lab_case_id,
        dated.pat_num                                               as patient_id,
        dated.laboratory_num                                        as laboratory_id,
        laboratories.description                                    as laboratory,
        dated.apt_num                                               as appointment_id,
        dated.planned_apt_num                                       as planned_appointment_id,
        dated.prov_num                                              as provider_id,
        dated.date_time_created                                     as created_at,
        dated.date_time_sent                                        as sent_at,
        dated.date_time_due                                         as due_at,
        dated.date_time_recd                                        as received_at,
        dated.date_time_checked                                     as checked_at,
        dated.sent_date,
        dated.due_date,
        dated.checked_date,
        dated.received_date,
        dated.received_date is not null                             as is_received,
        dated.received_date - dated.sent_date                       as turnaround_days,
        coalesce(dated.received_date > dated.due_date, false)       as is_received_late,
        cast(coalesce(dated.lab_fee, 0) as numeric(12, 2))          as lab_fee
    from dated
    left join laboratories
        on dated.laboratory_num = laboratories.laboratory_num

)

select * from final
