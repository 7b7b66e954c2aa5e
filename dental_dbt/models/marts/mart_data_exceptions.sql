-- One row per OpenDental row that breaks one of the rules below, with what the marts do about it
-- (dental_dbt/README.md and docs/dbt.md, "Dirty data"). Keys and rule names only: no patient data.
--   exception_kind  what is wrong (the names of dental_synthetic.dirty's injections where they match);
--   table_name, column_name, key_num: the OpenDental table, column and primary key;
--   handling        what the warehouse does with the row.
-- It lists exactly these rows (kind: table.column):
--   sentinel_date         no date (OpenDental's 0001-01-01, NULL from staging on): a completed procedure's
--                         procedurelog.ProcDate (out of production, in AR), commlog.CommDateTime (out of
--                         mart_communications_monthly), securitylog.LogDateTime (out of
--                         mart_system_activity_daily), clockevent.TimeDisplayed1 and timeadjust.TimeEntry (out
--                         of mart_staff_hours_weekly);
--   negative_amount       a completed procedure's negative procedurelog.ProcFee (counted as stored);
--   absurd_amount         an amount of var implausible_amount or more in procedurelog.ProcFee, paysplit.SplitAmt,
--                         adjustment.AdjAmt, claimproc.InsPayAmt or claimproc.WriteOff (counted as stored);
--   claimproc_claimnum_0  a received claimproc on no claim; orphan_row: a commlog.PatNum of no patient;
--   near_duplicate_plan   insplan copies; control_chars: control characters in commlog.Note;
--   unusual_status        a code OpenDental 24.3 does not define: appointment.AptStatus, commlog.Mode_ and
--                         commlog.SentOrReceived, securitylog.PermType (each counted as 'unknown'),
--                         clockevent.ClockStatus (no work row: out of mart_staff_hours_weekly).
-- Not listed: rows a mart leaves out by its own definition rather than for a broken rule (a lab case not yet
-- sent, whose DateTimeSent is OpenDental's MinValue until it is sent; a clock row still open; appointments
-- not on the book), and the rows with a sentinel date in columns no rule here reads, which the daily marts
-- leave out: appointment.AptDateTime, paysplit.DatePay, claimproc.DateCP, adjustment.AdjDate, among others.

with procedures as (

    select * from {{ ref('int_procedures') }}

),

completed_without_date as (

    select
        'sentinel_date'                                             as exception_kind,
        'procedurelog'                                              as table_name,
        'ProcDate'                                                  as column_name,
        procedure_id                                                as key_num,
        'out of mart_production_daily (no date of service); in AR as the oldest charge' as handling
    from procedures
    where proc_status = 2
        and procedure_date is null

),

negative_fees as (

    select
        'negative_amount', 'procedurelog', 'ProcFee', procedure_id,
        'counted as stored: a negative charge in production and AR'
    from procedures
    where proc_status = 2
        and proc_fee < 0

),

ledger_amounts as (

    select 'paysplit' as table_name, 'SplitAmt' as column_name, split_num as key_num, split_amt as amount,
        'counted as stored in collections and AR' as handling
    from {{ ref('stg_opendental__paysplit') }}
    union all
    select 'procedurelog', 'ProcFee', proc_num, proc_fee,
        'counted as stored wherever the marts use the fee (production, AR, treatment plans)'
    from {{ ref('stg_opendental__procedurelog') }}
    union all
    select 'adjustment', 'AdjAmt', adj_num, adj_amt, 'counted as stored in production and AR'
    from {{ ref('stg_opendental__adjustment') }}
    union all
    select 'claimproc', amounts.column_name, claim_proc_num, amounts.amount,
        'counted as stored wherever the marts use it (collections, write-offs, AR, claims)'
    from {{ ref('stg_opendental__claimproc') }}
    cross join lateral (
        values ('InsPayAmt', ins_pay_amt), ('WriteOff', write_off)
    ) as amounts (column_name, amount)

),

implausible_amounts as (

    -- the ledger's amounts no dental line holds (var implausible_amount, default $100,000; from
    -- var max_amount, $100,000,000, staging's amounts_in_range tests stop the build instead)
    select 'absurd_amount', table_name, column_name, key_num, handling
    from ledger_amounts
    where abs(amount) >= {{ var('implausible_amount', 100000) }}

),

received_without_claim as (

    select
        'claimproc_claimnum_0', 'claimproc', 'ClaimNum', claim_proc_num,
        'insurance payment counted in collections and AR by DateCP; in no claim''s recomputed totals (int_claims.paid_difference shows it), while fct_claim and mart_claims_monthly keep the claim''s stored totals'
    from {{ ref('stg_opendental__claimproc') }}
    where status in (1, 4)
        and claim_num is null

),

orphan_commlogs as (

    select
        'orphan_row', 'commlog', 'PatNum', commlogs.commlog_num,
        'no patient: kept in int_communications with patient_id NULL and is_orphan; counted in mart_communications_monthly, reaching no patient; in no family''s int_collection_activity'
    from {{ ref('stg_opendental__commlog') }} as commlogs
    left join {{ ref('stg_opendental__patient') }} as patients
        on commlogs.pat_num = patients.pat_num
    where commlogs.pat_num is not null
        and patients.pat_num is null

),

plans as (

    select
        plan_num,
        row_number() over (
            partition by carrier_num, employer_num, plan_type, fee_sched, group_num,
                upper(btrim(group_name))
            order by plan_num
        )                                                           as copy_number
    from {{ ref('stg_opendental__insplan') }}

),

duplicate_plans as (

    select
        'near_duplicate_plan', 'insplan', 'GroupName', plan_num,
        'kept as its own plan (coverage points at PlanNum); merge it in OpenDental'
    from plans
    where copy_number > 1

),

unknown_statuses as (

    select
        'unusual_status', 'appointment', 'AptStatus', apt_num,
        'decoded as unknown: counted as none of scheduled, complete or broken'
    from {{ ref('stg_opendental__appointment') }}
    where apt_status is null
        and apt_status_code is not null

),

commlog_codes as (

    select
        'sentinel_date', 'commlog', 'CommDateTime', commlog_num,
        'no date: in int_communications with communication_date NULL; out of mart_communications_monthly (no month)'
    from {{ ref('stg_opendental__commlog') }}
    where comm_date_time is null
    union all
    select
        'unusual_status', 'commlog', 'Mode_', commlog_num,
        'decoded as unknown: counted in mart_communications_monthly under mode unknown'
    from {{ ref('stg_opendental__commlog') }}
    where mode_ is null
        and mode__code is not null
    union all
    select
        'unusual_status', 'commlog', 'SentOrReceived', commlog_num,
        'decoded as unknown: counted in mart_communications_monthly under direction unknown'
    from {{ ref('stg_opendental__commlog') }}
    where sent_or_received is null
        and sent_or_received_code is not null

),

security_log_codes as (

    select
        'sentinel_date', 'securitylog', 'LogDateTime', security_log_num,
        'no date: out of mart_system_activity_daily (no day)'
    from {{ ref('stg_opendental__securitylog') }}
    where log_date_time is null
    union all
    select
        'unusual_status', 'securitylog', 'PermType', security_log_num,
        'decoded as unknown: counted in mart_system_activity_daily under permission unknown'
    from {{ ref('stg_opendental__securitylog') }}
    where perm_type is null
        and perm_type_code is not null

),

time_card_codes as (

    select
        'unusual_status', 'clockevent', 'ClockStatus', clock_event_num,
        'decoded as unknown (TimeClockStatus: 0 Home, 1 Lunch, 2 Break): no work row, out of mart_staff_hours_weekly'
    from {{ ref('stg_opendental__clockevent') }}
    where clock_status is null
        and clock_status_code is not null
    union all
    select
        'sentinel_date', 'clockevent', 'TimeDisplayed1', clock_event_num,
        'no clock-in date: no week, out of mart_staff_hours_weekly'
    from {{ ref('stg_opendental__clockevent') }}
    where time_displayed_1 is null
    union all
    select
        'sentinel_date', 'timeadjust', 'TimeEntry', time_adjust_num,
        'no date: no week, out of mart_staff_hours_weekly'
    from {{ ref('stg_opendental__timeadjust') }}
    where time_entry is null

),

control_characters as (

    select
        'control_chars', 'commlog', 'Note', "CommlogNum",
        'control characters removed in staging'
    from {{ source('opendental', 'commlog') }}
    where "Note" ~ '[\x01-\x08\x0B\x0C\x0E-\x1F\x7F]'

),

unioned as (

    select * from completed_without_date
    union all select * from negative_fees
    union all select * from implausible_amounts
    union all select * from received_without_claim
    union all select * from orphan_commlogs
    union all select * from duplicate_plans
    union all select * from unknown_statuses
    union all select * from commlog_codes
    union all select * from security_log_codes
    union all select * from time_card_codes
    union all select * from control_characters

)

select
    exception_kind,
    table_name,
    column_name,
    cast(key_num as bigint)                                         as key_num,
    handling
from unioned
