SELECT
    "ClockEventNum" AS clock_event_id,
    "EmployeeNum" AS employee_id,
    NULLIF("ClinicNum", 0) AS clinic_id,
    "ClockStatus" AS clock_status,
    "TimeDisplayed1" AS clock_in_at,
    CASE WHEN "TimeDisplayed2" = TIMESTAMP '0001-01-01 00:00:00' THEN NULL ELSE "TimeDisplayed2" END AS clock_out_at,
    "TimeEntered1" AS entered_in_at,
    "TimeEntered2" AS entered_out_at,
    EXTRACT(EPOCH FROM "OTimeHours") / 3600.0 AS overtime_hours,
    EXTRACT(EPOCH FROM "OTimeAuto") / 3600.0 AS overtime_auto_hours,
    EXTRACT(EPOCH FROM "Adjust") / 3600.0 AS adjust_hours,
    EXTRACT(EPOCH FROM "AdjustAuto") / 3600.0 AS adjust_auto_hours,
    "AdjustIsOverridden" = 1 AS is_adjust_overridden,
    "IsWorkingHome" = 1 AS is_working_home,
    "Note" AS note
FROM raw.clockevent
