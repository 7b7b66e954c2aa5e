-- One row per insurance plan (insplan.PlanNum) with its carrier and employer.

with plans as (

    select * from {{ ref('stg_opendental__insplan') }}

),

carriers as (

    select * from {{ ref('stg_opendental__carrier') }}

),

final as (

    select
        plans.plan_num                                              as insurance_plan_id,
        plans.carrier_num                                           as carrier_id,
        carriers.carrier_name,
        plans.employer_num                                          as employer_id,
        plans.group_name,
        plans.plan_type,
        plans.fee_sched                                             as fee_schedule_id,
        plans.is_hidden                                             as is_hidden
    from plans
    left join carriers
        on plans.carrier_num = carriers.carrier_num

)

select * from final
