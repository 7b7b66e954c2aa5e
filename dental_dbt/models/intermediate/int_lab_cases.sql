-- One row per OpenDental lab case (labcase.LabCaseNum): patient, laboratory, the appointment the case is
-- for (labcase.AptNum: the seat visit), provider, when it was created, sent, due, received and checked,
-- and the lab fee in dollars. Dates are the calendar dates of the datetimes; a sentinel date (case not
-- received / not checked yet) is NULL. No instructions text.
--   turnaround_days      received_date - sent_date (calendar days); NULL while the case is out;
--   is_received_late     received on a later date than the due date (received on the due date is on time).

with lab_cases as (

    select * from {{ ref('stg_opendental__labcase') }}

),

laboratories as (

    select * from {{ ref('stg_opendental__laboratory') }}

),

final as (

    select
        lab_cases.lab_case_num                                      as lab_case_id,
        lab_cases.pat_num                                           as patient_id,
        lab_cases.laboratory_num                                    as laboratory_id,
        laboratories.description                                    as laboratory,
        lab_cases.apt_num                                           as appointment_id,
        lab_cases.planned_apt_num                                   as planned_appointment_id,
        lab_cases.prov_num                                          as provider_id,
        lab_cases.date_time_created                                 as created_at,
        lab_cases.date_time_sent                                    as sent_at,
        lab_cases.date_time_due                                     as due_at,
        lab_cases.date_time_recd                                    as received_at,
        lab_cases.date_time_checked                                 as checked_at,
        cast(lab_cases.date_time_sent as date)                      as sent_date,
        cast(lab_cases.date_time_due as date)                       as due_date,
        cast(lab_cases.date_time_recd as date)                      as received_date,
        lab_cases.date_time_recd is not null                        as is_received,
        cast(lab_cases.date_time_recd as date)
            - cast(lab_cases.date_time_sent as date)                as turnaround_days,
        coalesce(cast(lab_cases.date_time_recd as date)
            > cast(lab_cases.date_time_due as date), false)         as is_received_late,
        cast(coalesce(lab_cases.lab_fee, 0) as numeric(12, 2))      as lab_fee
    from lab_cases
    left join laboratories
        on lab_cases.laboratory_num = laboratories.laboratory_num

)

select * from final
