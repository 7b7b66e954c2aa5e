select
    "LabCaseNum"::bigint                                                    as lab_case_id,
    "PatNum"::bigint                                                        as patient_id,
    nullif("LaboratoryNum", 0)                                              as laboratory_id,
    nullif("AptNum", 0)                                                     as appointment_id,
    nullif("PlannedAptNum", 0)                                              as planned_appointment_id,
    nullif("ProvNum", 0)                                                    as provider_id,
    case when "DateTimeCreated" < '1902-01-01' then null else "DateTimeCreated" end as created_at,
    case when "DateTimeSent" < '1902-01-01' then null else "DateTimeSent" end       as sent_at,
    case when "DateTimeRecd" < '1902-01-01' then null else "DateTimeRecd" end       as received_at,
    case when "DateTimeChecked" < '1902-01-01' then null else "DateTimeChecked" end as checked_at,
    case when "DateTimeDue" < '1902-01-01' then null else "DateTimeDue" end         as due_at,
    "LabFee"::numeric(10, 2)                                                as lab_fee,
    "DateTStamp"                                                            as updated_at,
    extract(epoch from ("DateTimeRecd" - "DateTimeSent")) / 86400.0        as turnaround_days
from raw.labcase
