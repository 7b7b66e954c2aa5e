-- Production per day, clinic and provider, in dollars.
--   gross_production: completed procedures' charges (ProcFee x (UnitQty + BaseUnits)) by ProcDate;
--   adjustments:      adjustment.AdjAmt by AdjDate (signed; negative = discount / write-down);
--   net_production:   gross_production + adjustments.
-- The two sides are aggregated to the grain first, then full-outer-joined: a day with only
-- adjustments (or only procedures) keeps its row. clinic_id / provider_id 0 = none (OpenDental's
-- "no clinic" / no provider). Rows without a date (OpenDental sentinel dates) cannot be placed on a day
-- and are left out.

with completed_procedures as (

    select * from {{ ref('int_procedures_complete') }}

),

adjustments as (

    select * from {{ ref('int_adjustments') }}

),

daily_procedures as (

    select
        procedure_date                                              as production_date,
        coalesce(clinic_id, 0)                                      as clinic_id,
        coalesce(provider_id, 0)                                    as provider_id,
        count(*)                                                    as completed_procedure_count,
        cast(sum(procedure_charge) as numeric(14, 2))               as gross_production
    from completed_procedures
    where procedure_date is not null
    group by 1, 2, 3

),

daily_adjustments as (

    select
        adjustment_date                                             as production_date,
        coalesce(clinic_id, 0)                                      as clinic_id,
        coalesce(provider_id, 0)                                    as provider_id,
        count(*)                                                    as adjustment_count,
        cast(sum(adjustment_amount) as numeric(14, 2))              as adjustments
    from adjustments
    where adjustment_date is not null
    group by 1, 2, 3

),

joined as (

    select
        coalesce(daily_procedures.production_date, daily_adjustments.production_date) as production_date,
        coalesce(daily_procedures.clinic_id, daily_adjustments.clinic_id)             as clinic_id,
        coalesce(daily_procedures.provider_id, daily_adjustments.provider_id)         as provider_id,
        coalesce(daily_procedures.completed_procedure_count, 0)     as completed_procedure_count,
        coalesce(daily_procedures.gross_production, 0)              as gross_production,
        coalesce(daily_adjustments.adjustment_count, 0)             as adjustment_count,
        coalesce(daily_adjustments.adjustments, 0)                  as adjustments
    from daily_procedures
    full outer join daily_adjustments
        on daily_procedures.production_date = daily_adjustments.production_date
        and daily_procedures.clinic_id = daily_adjustments.clinic_id
        and daily_procedures.provider_id = daily_adjustments.provider_id

),

final as (

    select
        production_date,
        clinic_id,
        provider_id,
        completed_procedure_count,
        cast(gross_production as numeric(14, 2))                    as gross_production,
        adjustment_count,
        cast(adjustments as numeric(14, 2))                         as adjustments,
        cast(gross_production + adjustments as numeric(14, 2))      as net_production
    from joined

)

select * from final
