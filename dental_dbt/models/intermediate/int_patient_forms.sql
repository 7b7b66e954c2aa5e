-- One row per patient with at least one patient form (OpenDental sheet, not deleted) of type
-- PatientForm (SheetTypeEnum 9: registration and other intake forms) or MedicalHistory (11): when the
-- patient last updated their medical history, and how many forms of each kind they filled in.
-- OpenDental keeps a filled-in form as a sheet row (sheet.DateTimeSheet, sheet.PatNum); sheets with
-- IsDeleted set are in the trash and are left out, as are sheets of other types (labels, letters, Rx...).
-- Patients are those of int_patients (a sheet whose PatNum matches no patient is left out).

with sheets as (

    select
        pat_num,
        sheet_type,
        date_time_sheet
    from {{ ref('stg_opendental__sheet') }}
    where not is_deleted
      and sheet_type in (9, 11)  -- SheetTypeEnum.PatientForm, MedicalHistory
      and date_time_sheet is not null

),

patients as (

    select patient_id from {{ ref('int_patients') }}

),

final as (

    select
        patients.patient_id                                                                   as patient_id,
        min(sheets.date_time_sheet) filter (where sheets.sheet_type = 9)                     as first_registration_at,
        count(*) filter (where sheets.sheet_type = 9)                                         as patient_form_count,
        count(*) filter (where sheets.sheet_type = 11)                                        as medical_history_count,
        max(sheets.date_time_sheet) filter (where sheets.sheet_type = 11)                    as latest_medical_history_at,
        cast(max(sheets.date_time_sheet) filter (where sheets.sheet_type = 11) as date)      as latest_medical_history_date
    from sheets
    inner join patients
        on patients.patient_id = sheets.pat_num
    group by patients.patient_id

)

select * from final
