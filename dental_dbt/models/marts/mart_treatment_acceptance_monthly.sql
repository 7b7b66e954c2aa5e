-- Treatment acceptance per month of presentation and provider (grain: month, provider_id), in dollars,
-- as OpenDental's Treatment Plan Presentation Statistics report counts it
-- (OpenDentBusiness/Reports/RpTreatPlanPresentationStatistics.cs, by first presentation, gross): the
-- procedures presented on saved treatment plans (int_treatment_presentations), in the month of their
-- first presentation, that are still treatment planned (ProcStatus 1) or complete (2); those deleted
-- or otherwise changed since are not counted, as in the report. Of them:
--   completed   ProcStatus 2 ("# of ProcsComp");
--   scheduled   still planned, on an appointment that is Scheduled (AptStatus 1; "# of ProcsSched");
--   accepted    completed or scheduled.
--   presented_fee / accepted_fee: procedure charges, ProcFee x (UnitQty + BaseUnits) (dollars);
--   acceptance_rate = accepted_fee / presented_fee (NULL when nothing was presented).
-- provider_id is the procedure's (procedurelog.ProvNum); the report groups by the plan's presenter.
-- Work charted without a saved plan (charted complete the day it was planned, or planned and never
-- saved as a plan) was never presented.

with presentations as (

    select * from {{ ref('int_treatment_presentations') }}

),

procedures as (

    select * from {{ ref('int_procedures') }}
    where proc_status in (1, 2)

),

appointments as (

    select appointment_id, apt_status from {{ ref('int_appointments') }}

),

presented as (

    select
        cast(date_trunc('month', presentations.presented_date) as date) as month,
        coalesce(procedures.provider_id, 0)                         as provider_id,
        procedures.procedure_charge,
        procedures.proc_status = 2                                  as is_completed,
        procedures.proc_status = 1 and coalesce(appointments.apt_status = 1, false) as is_scheduled
    from presentations
    inner join procedures
        on presentations.procedure_id = procedures.procedure_id
    left join appointments
        on procedures.appointment_id = appointments.appointment_id

),

classified as (

    select
        *,
        is_completed or is_scheduled                                as is_accepted
    from presented

),

final as (

    select
        month,
        provider_id,
        count(*)                                                    as presented_count,
        count(*) filter (where is_scheduled)                        as scheduled_count,
        count(*) filter (where is_completed)                        as completed_count,
        count(*) filter (where is_accepted)                         as accepted_count,
        cast(sum(procedure_charge) as numeric(14, 2))               as presented_fee,
        cast(coalesce(sum(procedure_charge) filter (where is_accepted), 0) as numeric(14, 2)) as accepted_fee,
        cast(coalesce(sum(procedure_charge) filter (where is_accepted), 0)
             / nullif(sum(procedure_charge), 0) as numeric(7, 4))   as acceptance_rate
    from classified
    group by 1, 2

)

select * from final
