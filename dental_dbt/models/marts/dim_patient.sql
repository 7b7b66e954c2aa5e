-- One row per patient (patient.PatNum): family, home clinic and provider, demographics and whether the
-- patient holds an insurance coverage now (a patplan row). No names, addresses or notes.

with patients as (

    select * from {{ ref('int_patients') }}

),

coverage as (

    select patient_id, count(*) as coverage_count
    from {{ ref('int_patient_coverage') }}
    group by 1

),

final as (

    select
        patients.patient_id,
        patients.guarantor_id,
        patients.patient_id = patients.guarantor_id                 as is_guarantor,
        patients.clinic_id,
        patients.primary_provider_id,
        patients.birthdate,
        patients.gender,
        patients.patient_status,
        patients.date_first_visit,
        coalesce(coverage.coverage_count, 0) > 0                    as has_insurance
    from patients
    left join coverage
        on patients.patient_id = coverage.patient_id

)

select * from final
