-- One row per completed procedure (procedurelog.ProcStatus = 2, OpenDental's ProcStat.C): the
-- procedures that count as production ("System A": production recognised at completion, by ProcDate).

with procedures as (

    select * from {{ ref('int_procedures') }}

),

completed as (

    select
        procedure_id,
        patient_id,
        appointment_id,
        clinic_id,
        provider_id,
        procedure_date,
        date_complete,
        proc_status,
        code_id,
        procedure_code,
        procedure_description,
        code_category_id,
        code_category,
        proc_fee,
        unit_qty,
        base_units,
        procedure_charge
    from procedures
    where proc_status = 2

)

select * from completed
