-- One row per procedure (procedurelog.ProcNum), every status, with its charge in dollars
-- (ProcFee x (UnitQty + BaseUnits), computed once in int_procedures).

select
    procedure_id,
    patient_id,
    appointment_id,
    clinic_id,
    provider_id,
    code_id,
    procedure_code,
    code_category,
    procedure_date,
    date_tp,
    proc_status,
    proc_status_name,
    proc_fee,
    unit_qty,
    base_units,
    procedure_charge
from {{ ref('int_procedures') }}
