-- One row per calendar day from the first to the last business date the practice's data holds
-- (procedures, appointments, payments, claims), with calendar attributes.

with bounds as (

    select min(day) as first_day, max(day) as last_day
    from (
        select procedure_date as day from {{ ref('int_procedures') }}
        union all
        select appointment_date from {{ ref('int_appointments') }}
        union all
        select transaction_date from {{ ref('int_ar_transactions') }}
    ) as days
    where day >= date '1880-01-01'

),

final as (

    select
        cast(day as date)                                           as date_day,
        cast(extract(year from day) as integer)                     as year,
        cast(extract(quarter from day) as integer)                  as quarter,
        cast(extract(month from day) as integer)                    as month,
        cast(date_trunc('month', day) as date)                      as month_start,
        cast(extract(isodow from day) as integer)                   as iso_day_of_week,
        extract(isodow from day) between 1 and 5                    as is_weekday
    from bounds
    cross join lateral generate_series(bounds.first_day, bounds.last_day, interval '1 day') as day

)

select * from final
