select
    "TimeAdjustNum" as time_adjust_id,
    "EmployeeNum" as employee_id,
    "TimeEntry"::date as adjust_date,
    extract(epoch from "RegHours") / 3600.0 as regular_hours,
    extract(epoch from "OTimeHours") / 3600.0 as overtime_hours,
    extract(epoch from "PtoHours") / 3600.0 as pto_hours,
    nullif("PtoDefNum", 0) as pto_definition_id,
    "IsAuto" = 1 as is_auto,
    "IsUnpaidProtectedLeave" = 1 as is_unpaid_protected_leave,
    nullif("SecuUserNumEntry", 0) as entered_by_user_id
from raw.timeadjust
