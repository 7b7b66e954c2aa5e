-- One row per provider (provider.ProvNum): abbreviation, whether a hygienist (provider.IsSecondary,
-- OpenDental's flag for hygienists), fee schedule and whether hidden.

with providers as (

    select * from {{ ref('stg_opendental__provider') }}

),

final as (

    select
        prov_num                                                    as provider_id,
        abbr                                                        as provider_abbr,
        is_secondary                                                as is_hygienist,
        fee_sched                                                   as fee_schedule_id,
        specialty                                                   as specialty_id,
        is_hidden                                                   as is_hidden
    from providers

)

select * from final
