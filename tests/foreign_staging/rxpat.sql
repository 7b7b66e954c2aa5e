SELECT
    "RxNum" AS prescription_id,
    "PatNum" AS patient_id,
    NULLIF("ProvNum", 0) AS provider_id,
    NULLIF("PharmacyNum", 0) AS pharmacy_id,
    NULLIF("ProcNum", 0) AS procedure_id,
    NULLIF("ClinicNum", 0) AS clinic_id,
    CASE WHEN "RxDate" <= DATE '1880-01-01' THEN NULL ELSE "RxDate" END AS prescribed_date,
    "Drug" AS drug,
    "Disp" AS dispense,
    "Refills" AS refills,
    "IsControlled" = 1 AS is_controlled,
    "RxCui" AS rxcui,
    "DaysOfSupply" AS days_of_supply,
    "RxType" AS rx_type,
    "DateTStamp" AS updated_at
FROM raw.rxpat
