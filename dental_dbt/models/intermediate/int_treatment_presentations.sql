-- One row per procedure presented on a saved treatment plan (grain: procedure_id, proctp.ProcNumOrig),
-- at its first presentation, as OpenDental's Treatment Plan Presentation Statistics report takes it
-- (OpenDentBusiness/Reports/RpTreatPlanPresentationStatistics.cs, "first presented"): the Saved plans
-- (treatplan.TPStatus 0), each procedure's proctp rows, the earliest plan by DateTP, then TreatPlanNum.
--   presented_date    treatplan.DateTP of that plan;
--   treatment_plan_id its TreatPlanNum.
-- A plan without a date (a sentinel DateTP) presents nothing. Active and Inactive plans are not
-- presentations.

with plans as (

    select
        treat_plan_num,
        date_tp
    from {{ ref('stg_opendental__treatplan') }}
    where tp_status = 0  -- TreatPlanStatus.Saved
        and date_tp is not null

),

planned_procedures as (

    select
        treat_plan_num,
        proc_num_orig
    from {{ ref('stg_opendental__proctp') }}
    where proc_num_orig is not null

),

final as (

    select distinct on (planned_procedures.proc_num_orig)
        planned_procedures.proc_num_orig                            as procedure_id,
        plans.date_tp                                               as presented_date,
        plans.treat_plan_num                                        as treatment_plan_id
    from planned_procedures
    inner join plans
        on planned_procedures.treat_plan_num = plans.treat_plan_num
    order by planned_procedures.proc_num_orig, plans.date_tp, plans.treat_plan_num

)

select * from final
