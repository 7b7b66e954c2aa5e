-- One row per clinic (clinic.ClinicNum), plus clinic 0 (OpenDental's "no clinic", used by practices
-- without clinics), so every fact's clinic_id joins.

with clinics as (

    select * from {{ ref('stg_opendental__clinic') }}

),

final as (

    select
        clinic_num                                                  as clinic_id,
        abbr                                                        as clinic_abbr,
        description                                                 as clinic_name,
        is_hidden                                                   as is_hidden
    from clinics

    union all

    select 0, 'none', 'No clinic', false

)

select * from final
