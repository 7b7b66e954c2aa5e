-- One row per OpenDental adjustment (adjustment.AdjNum): signed dollar amounts on a patient's account
-- (negative = discount or write-down, positive = added charge), with the adjustment type's name.

with adjustments as (

    select * from {{ ref('stg_opendental__adjustment') }}

),

definitions as (

    select * from {{ ref('stg_opendental__definition') }}

),

enriched as (

    select
        adjustments.adj_num                                         as adjustment_id,
        adjustments.pat_num                                         as patient_id,
        adjustments.proc_num                                        as procedure_id,
        adjustments.clinic_num                                      as clinic_id,
        adjustments.prov_num                                        as provider_id,
        adjustments.adj_date                                        as adjustment_date,
        adjustments.adj_type                                        as adjustment_type_id,
        adjustment_types.item_name                                  as adjustment_type,
        cast(coalesce(adjustments.adj_amt, 0) as numeric(14, 2))    as adjustment_amount
    from adjustments
    left join definitions as adjustment_types
        on adjustments.adj_type = adjustment_types.def_num

)

select * from enriched
