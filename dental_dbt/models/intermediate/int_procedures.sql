-- One row per OpenDental procedure (procedurelog.ProcNum), every status, with its code, code category
-- and charge. The charge is computed here once, as OpenDental computes it:
-- procedurelog.ProcFee x (procedurelog.UnitQty + procedurelog.BaseUnits), in dollars.
-- A ProcStatus OpenDental 24.3 does not define (ProcStat 1-8, OpenDentBusiness/Db/Enumerations.cs; staging's
-- proc_status NULL, the stored code in proc_status_code) decodes to 'unknown': the models filter on a defined
-- status (proc_status or proc_status_code 2 for production and AR; 1, 2, 5, 6, 8 for treatment plans, the
-- journey and the scores), so such a procedure counts in none, as
-- OpenDental's Production and Income report (RpProdInc, "ProcStatus=ProcStat.C") and aging
-- (Ledgers.GetTransQueryString, the same) count only complete procedures; mart_data_exceptions lists it.

with procedures as (

    select * from {{ ref('stg_opendental__procedurelog') }}

),

procedure_codes as (

    select * from {{ ref('stg_opendental__procedurecode') }}

),

definitions as (

    select * from {{ ref('stg_opendental__definition') }}

),

enriched as (

    select
        procedures.proc_num                                         as procedure_id,
        procedures.pat_num                                          as patient_id,
        procedures.apt_num                                          as appointment_id,
        procedures.clinic_num                                       as clinic_id,
        procedures.prov_num                                         as provider_id,
        procedures.proc_date                                        as procedure_date,
        procedures.date_complete                                    as date_complete,
        procedures.date_tp                                          as date_tp,
        procedures.tooth_num                                        as tooth_num,
        procedures.surf                                             as surf,
        procedures.proc_status                                      as proc_status,
        procedures.proc_status_code                                 as proc_status_code,
        case procedures.proc_status
            when 1 then 'treatment_planned'
            when 2 then 'complete'
            when 3 then 'existing_current_provider'
            when 4 then 'existing_other_provider'
            when 5 then 'referred'
            when 6 then 'deleted'
            when 7 then 'condition'
            when 8 then 'treatment_planned_inactive'
            else 'unknown'
        end                                                         as proc_status_name,
        procedures.code_num                                         as code_id,
        procedure_codes.proc_code                                   as procedure_code,
        procedure_codes.descript                                    as procedure_description,
        procedure_codes.proc_cat                                    as code_category_id,
        code_categories.item_name                                   as code_category,
        cast(coalesce(procedures.proc_fee, 0) as numeric)           as proc_fee,
        coalesce(procedures.unit_qty, 0)                            as unit_qty,
        coalesce(procedures.base_units, 0)                          as base_units,
        cast(
            cast(coalesce(procedures.proc_fee, 0) as numeric)
            * (coalesce(procedures.unit_qty, 0) + coalesce(procedures.base_units, 0))
            as numeric(14, 2)
        )                                                           as procedure_charge
    from procedures
    left join procedure_codes
        on procedures.code_num = procedure_codes.code_num
    left join definitions as code_categories
        on procedure_codes.proc_cat = code_categories.def_num

)

select * from enriched
