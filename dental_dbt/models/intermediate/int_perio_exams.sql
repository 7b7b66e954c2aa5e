-- One row per OpenDental perio chart (perioexam.PerioExamNum): patient, provider, exam date and what
-- its probing depths show. Depths come from the exam's periomeasure rows of SequenceType 4 (Probing,
-- OpenDental's PerioSequenceType, OpenDentBusiness/TableTypes/PerioMeasure.cs): one row per tooth
-- (IntTooth 1-32) holding six sites, MBvalue, Bvalue, DBvalue, MLvalue, Lvalue, DLvalue, in mm.
-- OpenDental stores -1 for a site not probed; a site counts as probed when its value is 0-19 (the
-- range OpenDental allows), so -1 and NULL are ignored. A site is a pocket of 5 mm or more when its
-- depth is >= 5. Skipped (missing) teeth (SequenceType 5) and the bleeding, mobility and other rows are
-- not depths. An exam without probing rows has 0 probed sites and NULL max_depth_mm.

with exams as (

    select * from {{ ref('stg_opendental__perioexam') }}

),

probing as (

    select
        perio_exam_num,
        int_tooth,
        m_bvalue,
        bvalue,
        d_bvalue,
        m_lvalue,
        lvalue,
        d_lvalue
    from {{ ref('stg_opendental__periomeasure') }}
    where sequence_type = 4  -- PerioSequenceType.Probing

),

sites as (

    select
        probing.perio_exam_num,
        probing.int_tooth,
        site.depth_mm
    from probing
    cross join lateral (
        values
            (probing.m_bvalue),
            (probing.bvalue),
            (probing.d_bvalue),
            (probing.m_lvalue),
            (probing.lvalue),
            (probing.d_lvalue)
    ) as site (depth_mm)
    where site.depth_mm between 0 and 19

),

site_stats as (

    select
        perio_exam_num,
        count(distinct int_tooth)                                   as probed_teeth,
        count(*)                                                    as probed_sites,
        count(*) filter (where depth_mm >= 5)                       as sites_5mm_plus,
        count(distinct int_tooth) filter (where depth_mm >= 5)      as teeth_5mm_plus,
        max(depth_mm)                                               as max_depth_mm
    from sites
    group by 1

),

final as (

    select
        exams.perio_exam_num                                        as perio_exam_id,
        exams.pat_num                                               as patient_id,
        exams.prov_num                                              as provider_id,
        exams.exam_date                                             as exam_date,
        exams.date_t_measure_edit                                   as measured_at,
        coalesce(site_stats.probed_teeth, 0)                        as probed_teeth,
        coalesce(site_stats.probed_sites, 0)                        as probed_sites,
        coalesce(site_stats.sites_5mm_plus, 0)                      as sites_5mm_plus,
        coalesce(site_stats.teeth_5mm_plus, 0)                      as teeth_5mm_plus,
        site_stats.max_depth_mm                                     as max_depth_mm
    from exams
    left join site_stats
        on exams.perio_exam_num = site_stats.perio_exam_num

)

select * from final
