-- One row per OpenDental patient (patient.PatNum) with the demographics the marts use. Birthdate is
-- NULL when OpenDental holds a sentinel (cleaned in staging). patient_status_code is PatStatus as stored, a code
-- OpenDental 24.3 does not define (PatientStatus 0-6, OpenDentBusiness/Db/Enumerations.cs) included; it
-- decodes to 'unknown' (the `<column>_code` convention of staging, docs/dbt.md).

with patients as (

    select * from {{ ref('stg_opendental__patient') }}

),

selected as (

    select
        pat_num                                                     as patient_id,
        guarantor                                                   as guarantor_id,
        clinic_num                                                  as clinic_id,
        pri_prov                                                    as primary_provider_id,
        birthdate,
        gender                                                      as gender_code,
        case gender
            when 0 then 'male'
            when 1 then 'female'
            when 2 then 'unknown'
            when 3 then 'other'
        end                                                         as gender,
        pat_status_code                                             as patient_status_code,
        case pat_status
            when 0 then 'patient'
            when 1 then 'non_patient'
            when 2 then 'inactive'
            when 3 then 'archived'
            when 4 then 'deleted'
            when 5 then 'deceased'
            when 6 then 'prospective'
            else 'unknown'
        end                                                         as patient_status,
        date_first_visit
    from patients

)

select * from selected
