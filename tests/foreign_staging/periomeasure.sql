SELECT
    m."PerioMeasureNum"                                     AS periomeasure_id,
    m."PerioExamNum"                                        AS perioexam_id,
    CAST(m."SequenceType" AS INTEGER)                       AS sequence_type,
    CAST(m."IntTooth" AS INTEGER)                           AS tooth_number,
    NULLIF(m."ToothValue", -1)                              AS tooth_value,
    NULLIF(m."MBvalue", -1)                                 AS mesial_buccal,
    NULLIF(m."Bvalue", -1)                                  AS buccal,
    NULLIF(m."DBvalue", -1)                                 AS distal_buccal,
    NULLIF(m."MLvalue", -1)                                 AS mesial_lingual,
    NULLIF(m."Lvalue", -1)                                  AS lingual,
    NULLIF(m."DLvalue", -1)                                 AS distal_lingual,
    GREATEST(m."MBvalue", m."Bvalue", m."DBvalue", m."MLvalue", m."Lvalue", m."DLvalue") AS max_value,
    m."SecDateTEntry"                                       AS created_at,
    m."SecDateTEdit"                                        AS updated_at
FROM raw.periomeasure AS m
JOIN raw.perioexam AS e ON e."PerioExamNum" = m."PerioExamNum"
