-- One row per procedure that was treatment-planned, completed, referred out or deleted
-- (procedurelog.ProcStatus in 1 TP, 2 C, 5 R, 6 D): the procedure, the patient at that date, and the
-- two targets (accepted = completed; fully paid = money received covers the charge).
-- Every joined side is one row per procedure or per patient before the join, so no procedure repeats.

with procedures as (

    select * from {{ ref('int_procedures') }}
    where proc_status in (1, 2, 5, 6)

),

patients as (

    select * from {{ ref('int_patients') }}

),

completed_visits as (

    select * from {{ ref('int_appointments_complete') }}

),

coverage as (

    select * from {{ ref('int_patient_coverage') }}

),

payments as (

    select * from {{ ref('int_procedure_payments') }}

),

-- completed appointments of the patient strictly before the procedure date, one row per procedure
prior_visits as (

    select
        procedures.procedure_id,
        count(*)                                                    as prior_visit_count
    from procedures
    inner join completed_visits
        on procedures.patient_id = completed_visits.patient_id
        and completed_visits.appointment_date < procedures.procedure_date
    group by procedures.procedure_id

),

-- procedures whose patient had a coverage window containing the procedure date, one row per procedure
insured_procedures as (

    select distinct
        procedures.procedure_id
    from procedures
    inner join coverage
        on procedures.patient_id = coverage.patient_id
        and (coverage.coverage_start_date is null or coverage.coverage_start_date <= procedures.procedure_date)
        and (coverage.coverage_end_date is null or coverage.coverage_end_date >= procedures.procedure_date)

),

joined as (

    select
        procedures.procedure_id,
        procedures.patient_id,
        procedures.clinic_id,
        procedures.provider_id,
        procedures.procedure_date,
        cast(extract(year from procedures.procedure_date) as integer) as procedure_year,
        procedures.proc_status,
        procedures.proc_status_name,
        procedures.procedure_code,
        procedures.code_category,
        procedures.proc_fee,
        procedures.unit_qty,
        procedures.base_units,
        procedures.procedure_charge,
        case
            when patients.birthdate is null or procedures.procedure_date is null then null
            when patients.birthdate > procedures.procedure_date then null
            else cast(extract(year from age(procedures.procedure_date, patients.birthdate)) as integer)
        end                                                         as patient_age_years,
        patients.gender,
        insured_procedures.procedure_id is not null                 as has_insurance,
        coalesce(prior_visits.prior_visit_count, 0)                 as prior_visit_count,
        cast(coalesce(payments.patient_paid, 0) as numeric(14, 2))  as patient_paid,
        cast(coalesce(payments.insurance_paid, 0) as numeric(14, 2)) as insurance_paid,
        cast(coalesce(payments.insurance_write_off, 0) as numeric(14, 2)) as insurance_write_off,
        procedures.proc_status = 2                                  as target_accepted,
        case
            when procedures.proc_status = 2 then
                coalesce(payments.patient_paid, 0)
                + coalesce(payments.insurance_paid, 0)
                + coalesce(payments.insurance_write_off, 0)
                >= procedures.procedure_charge
        end                                                         as target_fully_paid
    from procedures
    left join patients
        on procedures.patient_id = patients.patient_id
    left join prior_visits
        on procedures.procedure_id = prior_visits.procedure_id
    left join insured_procedures
        on procedures.procedure_id = insured_procedures.procedure_id
    left join payments
        on procedures.procedure_id = payments.procedure_id

)

select * from joined
