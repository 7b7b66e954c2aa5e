-- One row per insurance coverage of a patient (patplan.PatPlanNum): the patient, the subscription
-- (inssub) and plan, and the coverage window from inssub.DateEffective / inssub.DateTerm (NULL = open).
-- OpenDental keeps only current coverages in patplan (a dropped plan's row is deleted).
-- is_hidden_from_verify_list: the plan's insplan.HideFromVerifyList (false when the plan is unknown).

with patient_plans as (

    select * from {{ ref('stg_opendental__patplan') }}

),

subscriptions as (

    select * from {{ ref('stg_opendental__inssub') }}

),

plans as (

    select plan_num, hide_from_verify_list from {{ ref('stg_opendental__insplan') }}

),

joined as (

    select
        patient_plans.pat_plan_num                                  as patient_plan_id,
        patient_plans.pat_num                                       as patient_id,
        patient_plans.ins_sub_num                                   as insurance_subscription_id,
        subscriptions.plan_num                                      as insurance_plan_id,
        patient_plans.ordinal                                       as ordinal,
        subscriptions.date_effective                                as coverage_start_date,
        subscriptions.date_term                                     as coverage_end_date,
        coalesce(plans.hide_from_verify_list, false)                as is_hidden_from_verify_list
    from patient_plans
    left join subscriptions
        on patient_plans.ins_sub_num = subscriptions.ins_sub_num
    left join plans
        on subscriptions.plan_num = plans.plan_num

)

select * from joined
