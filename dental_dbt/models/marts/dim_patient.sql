-- One row per patient (patient.PatNum): family, home clinic and provider, demographics and whether the
-- patient holds an insurance coverage now (a patplan row). No direct identifiers and no free text
-- (docs/security.md): no names, addresses, birth dates or notes. The age is an age band on the run's
-- as-of date (var as_of_date, default today): 0-12, 13-17, 18-34, 35-49, 50-64, 65-79, 80-89, 90+
-- (Safe Harbor's ages over 89 in one band), NULL for a sentinel or future birthdate.

with run_date as (

    select {{ as_of_date() }} as as_of_date

),

patients as (

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
        case
            when patients.birthdate is null or patients.birthdate > run_date.as_of_date then null
            else {{ age_band('extract(year from age(run_date.as_of_date, patients.birthdate))') }}
        end                                                         as age_band,
        patients.gender,
        patients.patient_status,
        patients.date_first_visit,
        coalesce(coverage.coverage_count, 0) > 0                    as has_insurance
    from patients
    cross join run_date
    left join coverage
        on patients.patient_id = coverage.patient_id

)

select * from final
