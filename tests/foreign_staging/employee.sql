select
    "EmployeeNum" as employee_id,
    "LName" as last_name,
    "FName" as first_name,
    "MiddleI" as middle_initial,
    "IsHidden" = 1 as is_hidden,
    "ClockStatus" as clock_status,
    "PhoneExt" as phone_extension,
    "PayrollID" as payroll_id,
    nullif("ReportsTo", 0) as reports_to_employee_id,
    "IsFurloughed" = 1 as is_furloughed,
    "IsWorkingHome" = 1 as is_working_home
from raw.employee
