SELECT
    "InsVerifyHistNum" AS insverify_history_id,
    "InsVerifyNum" AS insverify_id,
    "VerifyType" AS verify_type,
    "FKey" AS foreign_key_id,
    NULLIF("VerifyUserNum", 0) AS verified_by_user_id,
    NULLIF("DateLastVerified", DATE '0001-01-01') AS verified_date,
    "DateTimeEntry" AS created_at,
    "SecDateTEdit" AS updated_at
FROM raw.insverifyhist
