-- Production per day and provider for the production dashboard (grain: production_date, provider_id),
-- in dollars: the day's net production (mart_production_daily summed over clinics) and its running
-- month-to-date and year-to-date totals for the provider. provider_id 0 = no provider (ProvNum 0, or one
-- that names no provider row: mart_production_daily's rule).

with daily as (

    select
        production_date,
        provider_id,
        sum(gross_production)                                       as gross_production,
        sum(adjustments)                                            as adjustments,
        sum(net_production)                                         as net_production,
        sum(completed_procedure_count)                              as completed_procedure_count
    from {{ ref('mart_production_daily') }}
    group by 1, 2

),

final as (

    select
        production_date,
        provider_id,
        cast(gross_production as numeric(14, 2))                    as gross_production,
        cast(adjustments as numeric(14, 2))                         as adjustments,
        cast(net_production as numeric(14, 2))                      as net_production,
        completed_procedure_count,
        cast(sum(net_production) over (
            partition by provider_id, date_trunc('month', production_date)
            order by production_date
        ) as numeric(14, 2))                                        as net_production_mtd,
        cast(sum(net_production) over (
            partition by provider_id, date_trunc('year', production_date)
            order by production_date
        ) as numeric(14, 2))                                        as net_production_ytd
    from daily

)

select * from final
