-- One row per procedure code (procedurecode.CodeNum): the CDT code, description, category (definition
-- of procedurecode.ProcCat) and clinical flags.

with codes as (

    select * from {{ ref('stg_opendental__procedurecode') }}

),

definitions as (

    select * from {{ ref('stg_opendental__definition') }}

),

final as (

    select
        codes.code_num                                              as code_id,
        codes.proc_code                                             as procedure_code,
        codes.descript                                              as description,
        codes.proc_cat                                              as category_id,
        categories.item_name                                        as category,
        codes.treat_area                                            as treat_area_code,
        codes.is_hygiene                                            as is_hygiene,
        codes.is_multi_visit                                        as is_multi_visit
    from codes
    left join definitions as categories
        on codes.proc_cat = categories.def_num

)

select * from final
