-- The treatment-journey dataset: one row per procedure that was treatment-planned, completed, referred
-- out or deleted (procedurelog.ProcStatus in 1 TP, 2 C, 5 R, 6 D), broken-appointment charges (codes
-- D9986, D9987: `procedures` below) left out, with features known on its decision date and four targets.
-- Every joined side is aggregated to one row per procedure (or per patient, family or carrier and date)
-- before the join, so no procedure repeats.
--
-- The decision date: the day the treatment was planned, when the prediction is made.
--   decision_date = procedurelog.DateTP (int_procedures.date_tp) when it is set and not after ProcDate
--                   (procedure_date), else procedure_date; decision_date_fallback marks the rows that fell
--                   back (DateTP a sentinel, or after ProcDate: bad data; NULL procedure_date included).
-- Why not procedure_date: OpenDental moves the ProcDate of a procedure to the day it is completed, while a
-- procedure still planned keeps the day it was planned (or its appointment's date). Features read at
-- procedure_date were taken after the decision for completed rows (visits between planning and
-- completion counted, the last visit the one just before completion, that day's coverage and fees) and
-- at planning for the others: target_accepted was learnt from "when" rather than "whether". DateTP is
-- written when the procedure is planned, and for work charted straight to complete it is the day of
-- completion, so both kinds of row are read at the decision. The interval procedure_date -
-- decision_date is not a column: it is itself a leak (positive for completed rows, 0 for planned ones
-- without an appointment).
--
-- Features use only the procedure's own row, rows dated strictly before its decision_date
-- (appointments, claims, the patient's first visit), never later rows, and for the tables OpenDental
-- overwrites or deletes (fee, patplan, inssub, insplan) the version that held at the end of the
-- decision date, from their snapshots (dental_dbt/snapshots): NULL where no version is known then.
-- The dataset holds no payment amounts, statuses or dates after the procedure (they are outcomes).
-- The targets, their "known" rule and the year partition (procedure_year) stay on procedure_date.
-- No feature may change at a calendar date shared across patients finer than the year: such a value,
-- with the carrier, stamped the date of service in the de-identified files (docs/journey.md,
-- "De-identification"). The features read from many patients' rows (the carrier's claims) and the age
-- are therefore computed per calendar year of the decision date. The fees are the exception: ProcFee is
-- the procedure's own charge, set from the fee schedule when it is charted, so it changes at the
-- practice's fee review whatever this model does; standard_fee stays read on the decision date
-- (documented and measured there).
--   demographics  patient_age_years (year of the decision date - year of birth: the age that year, which
--                 tells the year of birth only, not the birthday; NULL for a sentinel birthdate or a birth
--                 year after the date's; 90 for 90 and older, HIPAA Safe Harbor), gender, patient_zip3 (first
--                 three digits of patient.Zip, NULL unless it has five digits), has_insurance (a
--                 coverage window containing the date), coverage_count (coverages then);
--   financial     proc_fee, procedure_charge = ProcFee x (UnitQty + BaseUnits), standard_fee (the fee of
--                 the code in the patient's fee schedule, else the provider's; of duplicate fee rows the
--                 lowest FeeNum, the one OpenDental reads: fees_then), fee_ratio =
--                 proc_fee / standard_fee, insurance_estimate (sum of InsPayEst of the procedure's
--                 claimprocs);
--   insurance     carrier_id of the primary coverage then, carrier_median_days_to_payment and
--                 carrier_estimate_accuracy of that carrier's claims received in the calendar year before
--                 the decision date's year (the same value for every decision of that year; NULL with
--                 fewer than 10 such claims);
--   procedure     procedure_code, code_category, treat_area_code, is_multi_visit, has_tooth, has_surface;
--   history       prior_visit_count, prior_broken_count (appointments before the date), days_since_last_visit,
--                 days_since_first_visit (days from the last / first completed appointment before the
--                 date), family_size (family members seen before the date, the patient included).
-- Targets (NULL where undefined, and NULL while not yet known: for a procedure dated later than the run's
-- as-of date (run setting as_of_date, default today) minus the target's maturity, below; a planned
-- procedure on next month's appointment is not a "no"):
--   target_accepted            ProcStatus 2 (completed); known 90 days after the procedure date;
--   target_fully_paid          completed with a charge (procedure_charge > 0), and paysplits + received
--                              insurance (InsPayAmt + WriteOff of claimprocs Status 1, 4, 7) attached to it
--                              cover procedure_charge; known after 90 days;
--   target_paid_30d            completed with a charge, and the same money dated within 30 days after
--                              procedure_date (DatePay, DateCP) covers procedure_charge; known after 30 days;
--                              both NULL for a completed procedure charged $0 or less: nothing to collect,
--                              so "paid" is undefined (it was true: $0 received covers $0), not a success;
--   target_insurance_accurate  completed with a received claimproc: |InsPayAmt - InsPayEst| of its
--                              received claimprocs <= max(10% of InsPayEst, $5); known after 90 days. It
--                              compares the carrier's payment with its estimate, not with the charge, so
--                              it stays defined whatever the charge.

-- (the days: macros/journey_known_days.sql)

{#- the fewest claims a carrier must have received in a year for its statistics (carrier_years) #}
{%- set carrier_min_claims = 10 %}

-- `procedures` and `patients` are read by several parts below. Not materialized, each part scans the
-- analyzed tables, so PostgreSQL estimates the joins from their statistics. As CTE results they had
-- none, and estimates of billions of rows led to sort-merge plans and, once, a 36M-row join.
with run_date as (

    select {{ as_of_date() }} as as_of_date

),

procedures as not materialized (

    select
        procedure_id,
        patient_id,
        clinic_id,
        provider_id,
        procedure_date,
        -- the decision date (header): DateTP, else ProcDate when DateTP is a sentinel or after ProcDate
        case when date_tp <= procedure_date then date_tp else procedure_date end as decision_date,
        not coalesce(date_tp <= procedure_date, false)              as decision_date_fallback,
        proc_status,
        code_id,
        procedure_code,
        code_category,
        tooth_num,
        surf,
        proc_fee,
        unit_qty,
        base_units,
        procedure_charge
    from {{ ref('int_procedures') }}
    where proc_status in (1, 2, 5, 6)
        -- Broken-appointment charges are not treatment. When an appointment is broken, OpenDental charts a
        -- completed procedure of code D9986 (Missed) or D9987 (Cancelled) dated that day, DateTP = ProcDate
        -- (OpenDental/Logic/AppointmentL.cs, BreakApptHelper; the preference BrokenApptProcedure only chooses
        -- which of the two it charts: enum BrokenApptProcedure in OpenDentBusiness/Data Interface/
        -- Appointments.cs). As rows they would be planned and "accepted" the same day and, at $0,
        -- "paid". OpenDental tells them by these two codes, as here: BreakApptHelper's switch on ProcCode,
        -- and its counts of completed procedures leave them out (Procedures.GetCountPatsComplete,
        -- Procedures.AreAnyComplete: ProcCode NOT IN ('D9986','D9987')). No other code is left out.
        and coalesce(procedure_code, '') not in ('D9986', 'D9987')
        -- A procedure of no patient (PatNum 0, or a patient row that is gone: OpenDental's Database
        -- Maintenance repairs such rows, DatabaseMaintenances.PatientMissing) has no one to
        -- learn about: not a row, as OpenDental's production report joins procedurelog to patient (RpProdInc.
        -- GetDailyProdIncDataSet, INNER JOIN). mart_data_exceptions lists them.
        and patient_id in (select pat_num from {{ ref('stg_opendental__patient') }})

),

patients as not materialized (

    select pat_num, guarantor, birthdate, gender, fee_sched, date_first_visit, zip
    from {{ ref('stg_opendental__patient') }}

),

providers as (

    select prov_num, fee_sched
    from {{ ref('stg_opendental__provider') }}

),

codes as (

    select code_num, treat_area, is_multi_visit
    from {{ ref('stg_opendental__procedurecode') }}

),

-- Point in time. OpenDental overwrites fee, patplan, inssub and insplan rows in place and deletes a
-- dropped coverage's patplan row, so their current rows are not what was known on a decision date.
-- Their snapshots keep every version with the interval it held, [dbt_valid_from, dbt_valid_to); a
-- feature reads the version that held at the end of the decision date (known_from < date + 1 and
-- known_until >= date + 1 or open), and is NULL when no version was known then.

-- the clinic- and provider-independent fee rows: the standard fee of a code in a fee schedule (several
-- rows of one schedule and code can hold at once: fees_then, below, picks OpenDental's)
fees as (

    select fee_num, fee_sched, code_num, amount, dbt_valid_from as known_from, dbt_valid_to as known_until
    from {{ ref('snap_opendental__fee') }}
    where coalesce(clinic_num, 0) = 0
        and coalesce(prov_num, 0) = 0

),

appointments as (

    select patient_id, appointment_date, apt_status
    from {{ ref('int_appointments') }}
    where appointment_date is not null

),

-- a patient's coverages (patplan) and their subscriptions (inssub: plan, DateEffective/DateTerm window),
-- each version with the interval it held
patient_plans as (

    select pat_num as patient_id, ins_sub_num, ordinal, dbt_valid_from as known_from,
           dbt_valid_to as known_until
    from {{ ref('snap_opendental__patplan') }}

),

subscriptions as (

    select ins_sub_num, plan_num, date_effective, date_term, dbt_valid_from as known_from,
           dbt_valid_to as known_until
    from {{ ref('snap_opendental__inssub') }}

),

plans as (

    select plan_num, carrier_num, dbt_valid_from as known_from, dbt_valid_to as known_until
    from {{ ref('snap_opendental__insplan') }}

),

-- a received claim's payment as it stood when it was received: its Received lines' InsPayAmt
-- (int_claims.received_paid). claim.InsPayAmt also holds Supplemental payments, which come weeks later.
claims as (

    select
        insurance_plan_id                                           as plan_num,
        claim_type,
        date_sent,
        date_received,
        days_to_payment,
        received_paid,
        estimate
    from {{ ref('int_claims') }}
    where is_received
        and date_sent is not null

),

claimprocs as (

    select proc_num, status, date_cp, ins_pay_est, ins_pay_amt, write_off
    from {{ ref('stg_opendental__claimproc') }}
    where proc_num is not null

),

paysplits as (

    select proc_num, date_pay, split_amt
    from {{ ref('stg_opendental__paysplit') }}
    where proc_num is not null

),

-- The patient's and the family's history features are read from timelines. A timeline holds the
-- history's events (an appointment, a family member's first visit) on the day from which they count, and
-- one query row per date asked about. A running sum ordered by day, read at the query row (rows of one
-- day are peers, all included), covers exactly the events counted by then. That is linear in rows, where
-- pairing every procedure with every earlier row of its patient grew with their product. (The carrier's
-- history, once a window ending at each decision date, is now one group per carrier and calendar year:
-- carrier_years below.)

-- the patient's appointments before each decision date: an appointment counts from the day after its
-- date (appointment_date < decision_date)
visit_timeline as (

    select
        patient_id,
        appointment_date + 1                                        as counted_from,
        case when apt_status = 2 then 1 else 0 end                 as completed,
        case when apt_status = 5 then 1 else 0 end                 as broken,
        case when apt_status = 2 then appointment_date end          as visit_date,
        false                                                       as is_query
    from appointments
    where patient_id is not null
    union all
    select distinct
        patient_id,
        decision_date,
        0,
        0,
        cast(null as date),
        true
    from procedures
    where patient_id is not null
        and decision_date is not null

),

visit_history as (

    select patient_id, decision_date, prior_visit_count, prior_broken_count, first_visit_date, last_visit_date
    from (
        select
            patient_id,
            counted_from                                            as decision_date,
            is_query,
            sum(completed) over patient_days                        as prior_visit_count,
            sum(broken) over patient_days                           as prior_broken_count,
            min(visit_date) over patient_days                       as first_visit_date,
            max(visit_date) over patient_days                       as last_visit_date
        from visit_timeline
        window patient_days as (partition by patient_id order by counted_from)
    ) as running
    where is_query

),

-- the family's members seen before each decision date: a member counts from the day after its first
-- visit (patient.DateFirstVisit < decision_date); the patient is added when not counted so
family_timeline as (

    select
        guarantor,
        date_first_visit + 1                                        as counted_from,
        1                                                           as members,
        false                                                       as is_query
    from patients
    where guarantor is not null
        and date_first_visit is not null
    union all
    select distinct
        patients.guarantor,
        procedures.decision_date,
        0,
        true
    from procedures
    inner join patients
        on procedures.patient_id = patients.pat_num
    where patients.guarantor is not null
        and procedures.decision_date is not null

),

family_history as (

    select guarantor, decision_date, members_seen
    from (
        select
            guarantor,
            counted_from                                            as decision_date,
            is_query,
            sum(members) over (partition by guarantor order by counted_from) as members_seen
        from family_timeline
    ) as running
    where is_query

),

-- coverages holding on the decision date, and the primary one's carrier: the patplan versions known at
-- the end of the date, their subscription's version then (its window containing the date; a coverage
-- without a known subscription counts, as in int_patient_coverage) and the plan's version then
coverage_then as (

    select
        procedures.procedure_id,
        procedures.decision_date,
        count(*)                                                    as coverage_count,
        min(plans.carrier_num) filter (where patient_plans.ordinal = 1) as primary_carrier_id
    from procedures
    inner join patient_plans
        on procedures.patient_id = patient_plans.patient_id
        and patient_plans.known_from < procedures.decision_date + 1
        and (patient_plans.known_until is null or patient_plans.known_until >= procedures.decision_date + 1)
    left join subscriptions
        on patient_plans.ins_sub_num = subscriptions.ins_sub_num
        and subscriptions.known_from < procedures.decision_date + 1
        and (subscriptions.known_until is null or subscriptions.known_until >= procedures.decision_date + 1)
    left join plans
        on subscriptions.plan_num = plans.plan_num
        and plans.known_from < procedures.decision_date + 1
        and (plans.known_until is null or plans.known_until >= procedures.decision_date + 1)
    where (subscriptions.date_effective is null or subscriptions.date_effective <= procedures.decision_date)
        and (subscriptions.date_term is null or subscriptions.date_term >= procedures.decision_date)
    group by procedures.procedure_id, procedures.decision_date

),

-- The standard fee asked for: each procedure's code in the patient's and in the provider's fee schedule,
-- on its decision date, one question per schedule, code and date.
fee_questions as (

    select patients.fee_sched, procedures.code_id as code_num, procedures.decision_date
    from procedures
    inner join patients
        on procedures.patient_id = patients.pat_num
    where patients.fee_sched is not null
        and procedures.code_id is not null
        and procedures.decision_date is not null
    union
    select providers.fee_sched, procedures.code_id, procedures.decision_date
    from procedures
    inner join providers
        on procedures.provider_id = providers.prov_num
    where providers.fee_sched is not null
        and procedures.code_id is not null
        and procedures.decision_date is not null

),

-- The answer: of the fee rows held at the end of the date (the version known then of each FeeNum), the
-- one OpenDental reads, the lowest FeeNum. A database can hold several rows of one FeeSched, CodeNum,
-- ClinicNum and ProvNum: OpenDental's Database Maintenance method FeeDeleteDuplicates
-- (OpenDentBusiness/Data Interface/DatabaseMaintenances.cs) finds them (GROUP BY FeeSched, CodeNum,
-- ClinicNum, ProvNum HAVING COUNT(CodeNum) > 1) and deletes all but one. Until then OpenDental reads the
-- first row its query returns: Fees.GetFee (OpenDentBusiness/Data Interface/Fees.cs) either runs
-- GetFeeFromDb (SELECT fee.* FROM fee WHERE CodeNum, FeeSched, ClinicNum, ProvNum equal, UNION ALL the
-- override levels, no ORDER BY; Crud.FeeCrud.SelectOne returns list[0]) or GetFeeFromList on a list read
-- by SELECT * FROM fee WHERE ... (GetListFromObjects, GetListForSchedsAndClinics; no ORDER BY), listFees.Find:
-- the first match. MySQL/MariaDB (InnoDB) return rows equal on those four columns in primary-key order,
-- through the index FeeSchedCodeClinicProv (ConvertDatabases7.cs), the ClinicNum, CodeNum or ProvNum
-- index or a table scan alike, so the lowest FeeNum is read; the maintenance method keeps that row too
-- (its GROUP BY's row). tests/test_fee_duplicates.py runs these queries on MariaDB. One row per
-- question, so no procedure repeats.
fees_then as (

    select distinct on (fee_questions.fee_sched, fee_questions.code_num, fee_questions.decision_date)
        fee_questions.fee_sched,
        fee_questions.code_num,
        fee_questions.decision_date,
        fees.amount
    from fee_questions
    inner join fees
        on fees.fee_sched = fee_questions.fee_sched
        and fees.code_num = fee_questions.code_num
        and fees.known_from < fee_questions.decision_date + 1
        and (fees.known_until is null or fees.known_until >= fee_questions.decision_date + 1)
    order by fee_questions.fee_sched, fee_questions.code_num, fee_questions.decision_date, fees.fee_num

),

-- a claim's carrier: its plan's version at the end of the day the claim was received (in the year before
-- the decisions that count it)
received_claims as (

    select
        plans.carrier_num                                           as carrier_id,
        claims.date_received,
        claims.days_to_payment,
        claims.received_paid                                        as ins_pay_amt,
        claims.estimate                                             as ins_pay_est
    from claims
    inner join plans
        on claims.plan_num = plans.plan_num
        and plans.known_from < claims.date_received + 1
        and (plans.known_until is null or plans.known_until >= claims.date_received + 1)
    where claims.claim_type in ('P', 'S')

),

-- The carrier's history for the decisions of a year: its claims received in the calendar year before.
-- A window ending at the decision date itself ([d - 365, d)) changed with every claim received, so the
-- carrier and the two values together dated a row to within days (a 5,000-patient practice: 1,952
-- groups of rows sharing all three, each spanning at most 7 days); per calendar year they tell the
-- decision's year only. The previous calendar year, not the 365 days before January 1: each claim counts
-- for exactly one year's decisions, whatever the leap years. The median is percentile_cont(0.5), the
-- accuracy the summed payments as received over the summed estimates. Both are NULL for a carrier with
-- fewer than carrier_min_claims claims that year: a whole year's decisions read the value, and a median
-- of a handful of claims is noise (in the year after a history starts, e.g. the demo's 25 claims of its
-- first December for every decision of the next year; the rolling window had that only for weeks).
carrier_years as (

    select
        carrier_id,
        cast(extract(year from date_received) as integer) + 1      as decision_year,
        percentile_cont(0.5) within group (order by days_to_payment) as carrier_median_days_to_payment,
        sum(ins_pay_amt) / nullif(sum(ins_pay_est), 0)             as carrier_estimate_accuracy
    from received_claims
    where date_received is not null
    group by carrier_id, extract(year from date_received)
    having count(*) >= {{ carrier_min_claims }}

),

-- the money of each procedure, in one pass over its claimprocs and paysplits:
--   insurance_estimate   InsPayEst of its NotReceived (0), Received (1) and Estimate (6) claimprocs (read as
--                        stored: an Estimate of a planned procedure, the claim's of a completed one);
--   received_total       paysplits + InsPayAmt + WriteOff of its Received (1), Supplemental (4) and
--                        CapComplete (7) claimprocs (outcome, targets only), received_30d the part dated
--                        (DatePay, DateCP) within 30 days after the procedure;
--   insurance_paid/_estimated  InsPayAmt / InsPayEst of its Received and Supplemental claimprocs
--                        (outcome, targets only).
procedure_money as (

    select
        procedures.procedure_id,
        sum(money.amount) filter (where money.is_received)         as received_total,
        sum(money.amount) filter (
            where money.is_received and money.money_date <= procedures.procedure_date + 30) as received_30d,
        sum(money.estimate) filter (where money.is_estimate)       as insurance_estimate,
        sum(money.insurance_paid) filter (where money.is_outcome)  as insurance_paid,
        sum(money.estimate) filter (where money.is_outcome)        as insurance_estimated,
        bool_or(money.is_outcome)                                   as has_insurance_outcome
    from procedures
    inner join (
        select
            proc_num,
            date_pay                                                as money_date,
            cast(coalesce(split_amt, 0) as numeric(14, 2))          as amount,
            cast(null as numeric(14, 2))                            as estimate,
            cast(null as numeric(14, 2))                            as insurance_paid,
            true                                                    as is_received,
            false                                                   as is_estimate,
            false                                                   as is_outcome
        from paysplits
        union all
        select
            proc_num,
            date_cp,
            cast(coalesce(ins_pay_amt, 0) as numeric(14, 2)) + cast(coalesce(write_off, 0) as numeric(14, 2)),
            cast(coalesce(ins_pay_est, 0) as numeric(14, 2)),
            cast(coalesce(ins_pay_amt, 0) as numeric(14, 2)),
            status in (1, 4, 7),
            status in (0, 1, 6),
            status in (1, 4)
        from claimprocs
        where status in (0, 1, 4, 6, 7)
    ) as money
        on money.proc_num = procedures.procedure_id
    group by procedures.procedure_id

),

joined as (

    select
        procedures.procedure_id,
        procedures.patient_id,
        procedures.clinic_id,
        procedures.provider_id,
        procedures.procedure_date,
        procedures.decision_date,
        procedures.decision_date_fallback,
        cast(extract(year from procedures.procedure_date) as integer) as procedure_year,
        -- demographics, as of the decision date
        -- the age in the decision date's year (macros/age_in_year.sql: the year of birth only, 90 and over as 90)
        {{ age_in_year('patients.birthdate', 'procedures.decision_date') }} as patient_age_years,
        case patients.gender when 0 then 'male' when 1 then 'female' when 2 then 'unknown'
            when 3 then 'other' end                                 as gender,
        case when regexp_replace(coalesce(patients.zip, ''), '[^0-9]', '', 'g') ~ '^[0-9]{5}([0-9]{4})?$'
            then left(regexp_replace(patients.zip, '[^0-9]', '', 'g'), 3)
        end                                                         as patient_zip3,
        coalesce(coverage_then.coverage_count, 0) > 0               as has_insurance,
        coalesce(coverage_then.coverage_count, 0)                   as coverage_count,
        -- financial
        procedures.proc_fee,
        procedures.unit_qty,
        procedures.base_units,
        procedures.procedure_charge,
        cast(coalesce(patient_fee.amount, provider_fee.amount) as numeric(14, 2)) as standard_fee,
        cast(procedures.proc_fee / nullif(cast(coalesce(patient_fee.amount, provider_fee.amount) as numeric), 0)
             as numeric(9, 4))                                      as fee_ratio,
        cast(coalesce(procedure_money.insurance_estimate, 0) as numeric(14, 2)) as insurance_estimate,
        -- insurance
        coverage_then.primary_carrier_id                            as carrier_id,
        carrier_years.carrier_median_days_to_payment,
        cast(carrier_years.carrier_estimate_accuracy as double precision) as carrier_estimate_accuracy,
        -- procedure
        procedures.procedure_code,
        procedures.code_category,
        codes.treat_area                                            as treat_area_code,
        coalesce(codes.is_multi_visit, false)                       as is_multi_visit,
        coalesce(procedures.tooth_num, '') <> ''                    as has_tooth,
        coalesce(procedures.surf, '') <> ''                         as has_surface,
        -- history, as of the decision date (days)
        coalesce(visit_history.prior_visit_count, 0)                as prior_visit_count,
        coalesce(visit_history.prior_broken_count, 0)               as prior_broken_count,
        procedures.decision_date - visit_history.last_visit_date    as days_since_last_visit,
        procedures.decision_date - visit_history.first_visit_date   as days_since_first_visit,
        case
            when family_history.members_seen is null then 1
            when patients.date_first_visit < procedures.decision_date then family_history.members_seen
            else family_history.members_seen + 1
        end                                                         as family_size,
        -- targets, once known: on procedure_date (the completion for a completed procedure)
        case when procedures.procedure_date <= run_date.as_of_date - {{ journey_known_days('target_accepted') }}
            then procedures.proc_status = 2
        end                                                         as target_accepted,
        -- paid: only a charge (> $0) can be paid; a $0 (or negative) charge has nothing to collect (header)
        case when procedures.proc_status = 2 and procedures.procedure_charge > 0
                and procedures.procedure_date <= run_date.as_of_date - {{ journey_known_days('target_fully_paid') }}
            then coalesce(procedure_money.received_total, 0) >= procedures.procedure_charge
        end                                                         as target_fully_paid,
        case when procedures.proc_status = 2 and procedures.procedure_charge > 0
                and procedures.procedure_date <= run_date.as_of_date - {{ journey_known_days('target_paid_30d') }}
            then coalesce(procedure_money.received_30d, 0) >= procedures.procedure_charge
        end                                                         as target_paid_30d,
        case when procedures.proc_status = 2 and procedure_money.has_insurance_outcome
                and procedures.procedure_date <= run_date.as_of_date - {{ journey_known_days('target_insurance_accurate') }}
            then abs(procedure_money.insurance_paid - procedure_money.insurance_estimated)
                 <= greatest(0.10 * procedure_money.insurance_estimated, 5.00)
        end                                                         as target_insurance_accurate
    from procedures
    cross join run_date
    left join patients
        on procedures.patient_id = patients.pat_num
    left join providers
        on procedures.provider_id = providers.prov_num
    left join fees_then as patient_fee
        on patient_fee.fee_sched = patients.fee_sched
        and patient_fee.code_num = procedures.code_id
        and patient_fee.decision_date = procedures.decision_date
    left join fees_then as provider_fee
        on provider_fee.fee_sched = providers.fee_sched
        and provider_fee.code_num = procedures.code_id
        and provider_fee.decision_date = procedures.decision_date
    left join codes
        on procedures.code_id = codes.code_num
    left join visit_history
        on procedures.patient_id = visit_history.patient_id
        and procedures.decision_date = visit_history.decision_date
    left join family_history
        on patients.guarantor = family_history.guarantor
        and procedures.decision_date = family_history.decision_date
    left join coverage_then
        on procedures.procedure_id = coverage_then.procedure_id
    left join carrier_years
        on coverage_then.primary_carrier_id = carrier_years.carrier_id
        and cast(extract(year from procedures.decision_date) as integer) = carrier_years.decision_year
    left join procedure_money
        on procedures.procedure_id = procedure_money.procedure_id

)

select * from joined
