WITH src AS (
    SELECT * FROM raw.perioexam
)
SELECT
    CAST("PerioExamNum" AS BIGINT)                                  AS perioexam_id,
    CAST("PatNum" AS BIGINT)                                        AS patient_id,
    NULLIF(CAST("ProvNum" AS BIGINT), 0)                            AS provider_id,
    CASE WHEN "ExamDate" > DATE '1900-01-01' THEN "ExamDate" END    AS exam_date,
    CAST("DateTMeasureEdit" AS TIMESTAMP)                           AS measure_edited_at,
    TRIM("Note")                                                    AS note
FROM src
