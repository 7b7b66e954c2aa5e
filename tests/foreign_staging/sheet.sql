select
    s."SheetNum" as sheet_id,
    s."SheetType" as sheet_type,
    s."PatNum" as patient_id,
    s."DateTimeSheet" as sheet_at,
    s."Description" as description,
    s."IsWebForm" = 1 as is_web_form,
    s."IsDeleted" = 1 as is_deleted,
    nullif(s."SheetDefNum", 0) as sheet_definition_id,
    nullif(s."DocNum", 0) as document_id,
    nullif(s."ClinicNum", 0) as clinic_id,
    s."DateTSheetEdited" as edited_at,
    (select count(*) from raw.sheetfield f where f."SheetNum" = s."SheetNum") as field_count
from raw.sheet s
