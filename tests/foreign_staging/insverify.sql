WITH verifications AS (
    SELECT
        v."InsVerifyNum"                                            AS insverify_id,
        v."VerifyType"                                              AS verify_type,
        v."FKey"                                                    AS foreign_key_id,
        NULLIF(v."UserNum", 0)                                      AS user_id,
        NULLIF(v."DefNum", 0)                                       AS status_definition_id,
        NULLIF(v."DateLastVerified", DATE '0001-01-01')             AS last_verified_date,
        NULLIF(v."DateLastAssigned", DATE '0001-01-01')             AS last_assigned_date,
        v."DateTimeEntry"                                           AS created_at,
        v."SecDateTEdit"                                            AS updated_at,
        v."HoursAvailableForVerification"                           AS hours_available,
        v."Note"                                                    AS note
    FROM raw.insverify AS v
)
SELECT * FROM verifications
