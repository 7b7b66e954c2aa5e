-- Treatment acceptance per month of presentation and provider (grain: month, provider_id), in dollars.
-- A procedure is presented in the month of its procedurelog.DateTP (the date it was treatment
-- planned). Of those presented, it is accepted when it was completed (ProcStatus 2) or is scheduled on
-- an appointment (still treatment planned with AptNum set); deleted ones (ProcStatus 6) count as
-- presented and declined. Existing, referred and condition rows were never presented.
--   presented_fee / accepted_fee: procedure charges, ProcFee x (UnitQty + BaseUnits);
--   acceptance_rate = accepted_fee / presented_fee (NULL when nothing was presented).

with procedures as (

    select * from {{ ref('int_procedures') }}

),

planned as (

    select
        cast(date_trunc('month', procedures.date_tp) as date)       as month,
        coalesce(procedures.provider_id, 0)                         as provider_id,
        procedures.procedure_charge,
        procedures.proc_status = 2
            or (procedures.proc_status = 1 and coalesce(procedures.appointment_id, 0) <> 0)
                                                                    as is_accepted
    from procedures
    where procedures.date_tp is not null
        and procedures.proc_status in (1, 2, 6, 8)

),

final as (

    select
        month,
        provider_id,
        count(*)                                                    as presented_count,
        count(*) filter (where is_accepted)                         as accepted_count,
        cast(sum(procedure_charge) as numeric(14, 2))               as presented_fee,
        cast(coalesce(sum(procedure_charge) filter (where is_accepted), 0) as numeric(14, 2)) as accepted_fee,
        cast(coalesce(sum(procedure_charge) filter (where is_accepted), 0)
             / nullif(sum(procedure_charge), 0) as numeric(7, 4))   as acceptance_rate
    from planned
    group by 1, 2

)

select * from final
