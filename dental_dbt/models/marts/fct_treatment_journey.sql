-- The treatment-journey dataset: one row per procedure that was treatment-planned, completed, referred
-- out or deleted (procedurelog.ProcStatus in 1 TP, 2 C, 5 R, 6 D), with features known on the procedure
-- date and four targets. Every joined side is aggregated to one row per procedure (or per patient)
-- before the join, so no procedure repeats.
--
-- Features use only the procedure's own row and rows dated strictly before its procedure_date
-- (appointments, claims, the patient's first visit), never later rows. The dataset holds no payment
-- amounts, statuses or dates after the procedure (they are outcomes).
--   demographics  patient_age_years (NULL for a sentinel birthdate), gender, has_insurance (a coverage
--                 window containing the date), insurance_ordinal_count (coverages then);
--   financial     proc_fee, procedure_charge = ProcFee x (UnitQty + BaseUnits), standard_fee (the fee of
--                 the code in the patient's fee schedule, else the provider's), fee_ratio =
--                 proc_fee / standard_fee, insurance_estimate (sum of InsPayEst of the procedure's
--                 claimprocs);
--   insurance     carrier_id of the primary coverage then, carrier_median_days_to_payment and
--                 carrier_estimate_accuracy of that carrier's claims received in the 365 days before the
--                 procedure date;
--   procedure     procedure_code, code_category, treat_area_code, is_multi_visit, has_tooth, has_surface;
--   history       prior_visit_count, prior_broken_count (appointments before the date), days_since_last_visit,
--                 family_size (family members seen before the date, the patient included).
-- Targets (NULL where undefined):
--   target_accepted            ProcStatus 2 (completed);
--   target_fully_paid          completed, and paysplits + received insurance (InsPayAmt + WriteOff of
--                              claimprocs Status 1, 4, 7) attached to it cover procedure_charge;
--   target_paid_30d            completed, and the same money dated within 30 days after procedure_date
--                              (DatePay, DateCP) covers procedure_charge;
--   target_insurance_accurate  completed with a received claimproc: |InsPayAmt - InsPayEst| of its
--                              received claimprocs <= max(10% of InsPayEst, $5).

with procedures as (

    select * from {{ ref('int_procedures') }}
    where proc_status in (1, 2, 5, 6)

),

patients as (

    select * from {{ ref('stg_opendental__patient') }}

),

providers as (

    select * from {{ ref('stg_opendental__provider') }}

),

codes as (

    select * from {{ ref('stg_opendental__procedurecode') }}

),

fees as (

    select * from {{ ref('stg_opendental__fee') }}

),

appointments as (

    select * from {{ ref('int_appointments') }}
    where appointment_date is not null

),

coverage as (

    select * from {{ ref('int_patient_coverage') }}

),

plans as (

    select * from {{ ref('stg_opendental__insplan') }}

),

claims as (

    select * from {{ ref('stg_opendental__claim') }}

),

claimprocs as (

    select * from {{ ref('stg_opendental__claimproc') }}

),

paysplits as (

    select * from {{ ref('stg_opendental__paysplit') }}

),

-- the procedure's standard fee: the code's fee (clinic- and provider-independent row) in the patient's
-- fee schedule, else in the provider's
standard_fees as (

    select
        procedures.procedure_id,
        coalesce(patient_fee.amount, provider_fee.amount)           as standard_fee
    from procedures
    left join patients
        on procedures.patient_id = patients.pat_num
    left join providers
        on procedures.provider_id = providers.prov_num
    left join fees as patient_fee
        on patient_fee.fee_sched = patients.fee_sched
        and patient_fee.code_num = procedures.code_id
        and coalesce(patient_fee.clinic_num, 0) = 0
        and coalesce(patient_fee.prov_num, 0) = 0
    left join fees as provider_fee
        on provider_fee.fee_sched = providers.fee_sched
        and provider_fee.code_num = procedures.code_id
        and coalesce(provider_fee.clinic_num, 0) = 0
        and coalesce(provider_fee.prov_num, 0) = 0

),

prior_appointments as (

    select
        procedures.procedure_id,
        count(*) filter (where appointments.apt_status = 2)        as prior_visit_count,
        count(*) filter (where appointments.apt_status = 5)        as prior_broken_count,
        max(appointments.appointment_date) filter (where appointments.apt_status = 2) as last_visit_date
    from procedures
    inner join appointments
        on procedures.patient_id = appointments.patient_id
        and appointments.appointment_date < procedures.procedure_date
    group by procedures.procedure_id

),

coverage_then as (

    select
        procedures.procedure_id,
        count(*)                                                    as coverage_count,
        min(plans.carrier_num) filter (where coverage.ordinal = 1) as primary_carrier_id
    from procedures
    inner join coverage
        on procedures.patient_id = coverage.patient_id
        and (coverage.coverage_start_date is null or coverage.coverage_start_date <= procedures.procedure_date)
        and (coverage.coverage_end_date is null or coverage.coverage_end_date >= procedures.procedure_date)
    left join plans
        on coverage.insurance_plan_id = plans.plan_num
    group by procedures.procedure_id

),

received_claims as (

    select
        plans.carrier_num                                           as carrier_id,
        claims.date_received,
        claims.date_received - claims.date_sent                     as days_to_payment,
        cast(coalesce(claims.ins_pay_amt, 0) as numeric(14, 2))     as ins_pay_amt,
        cast(coalesce(claims.ins_pay_est, 0) as numeric(14, 2))     as ins_pay_est
    from claims
    inner join plans
        on claims.plan_num = plans.plan_num
    where claims.claim_status = 'R'
        and claims.date_received is not null
        and claims.date_sent is not null
        and claims.claim_type in ('P', 'S')

),

carrier_history as (

    select
        coverage_then.procedure_id,
        percentile_cont(0.5) within group (order by received_claims.days_to_payment) as carrier_median_days_to_payment,
        sum(received_claims.ins_pay_amt) / nullif(sum(received_claims.ins_pay_est), 0) as carrier_estimate_accuracy
    from coverage_then
    inner join procedures
        on coverage_then.procedure_id = procedures.procedure_id
    inner join received_claims
        on received_claims.carrier_id = coverage_then.primary_carrier_id
        and received_claims.date_received < procedures.procedure_date
        and received_claims.date_received >= procedures.procedure_date - 365
    group by coverage_then.procedure_id

),

family_then as (

    select
        procedures.procedure_id,
        count(*)                                                    as family_size
    from procedures
    inner join patients as patient
        on procedures.patient_id = patient.pat_num
    inner join patients as member
        on member.guarantor = patient.guarantor
        and (member.pat_num = patient.pat_num or member.date_first_visit < procedures.procedure_date)
    group by procedures.procedure_id

),

estimates as (

    select
        proc_num                                                    as procedure_id,
        sum(cast(coalesce(ins_pay_est, 0) as numeric(14, 2)))       as insurance_estimate
    from claimprocs
    where proc_num is not null
        and status in (0, 1, 6)
    group by 1

),

-- outcomes: money received for the procedure, all of it and within 30 days (targets only)
money_received as (

    select
        procedures.procedure_id,
        sum(money.amount)                                           as received_total,
        sum(money.amount) filter (where money.received_date <= procedures.procedure_date + 30) as received_30d
    from procedures
    inner join (
        select proc_num, date_pay as received_date, cast(coalesce(split_amt, 0) as numeric(14, 2)) as amount
        from paysplits
        where proc_num is not null
        union all
        select proc_num, date_cp,
               cast(coalesce(ins_pay_amt, 0) as numeric(14, 2)) + cast(coalesce(write_off, 0) as numeric(14, 2))
        from claimprocs
        where proc_num is not null and status in (1, 4, 7)
    ) as money
        on money.proc_num = procedures.procedure_id
    group by procedures.procedure_id

),

insurance_outcome as (

    select
        proc_num                                                    as procedure_id,
        sum(cast(coalesce(ins_pay_amt, 0) as numeric(14, 2)))       as insurance_paid,
        sum(cast(coalesce(ins_pay_est, 0) as numeric(14, 2)))       as insurance_estimated
    from claimprocs
    where proc_num is not null
        and status in (1, 4)
    group by 1

),

joined as (

    select
        procedures.procedure_id,
        procedures.patient_id,
        procedures.clinic_id,
        procedures.provider_id,
        procedures.procedure_date,
        cast(extract(year from procedures.procedure_date) as integer) as procedure_year,
        -- demographics
        case
            when patients.birthdate is null or procedures.procedure_date is null then null
            when patients.birthdate > procedures.procedure_date then null
            else cast(extract(year from age(procedures.procedure_date, patients.birthdate)) as integer)
        end                                                         as patient_age_years,
        case patients.gender when 0 then 'male' when 1 then 'female' when 2 then 'unknown'
            when 3 then 'other' end                                 as gender,
        coalesce(coverage_then.coverage_count, 0) > 0               as has_insurance,
        coalesce(coverage_then.coverage_count, 0)                   as coverage_count,
        -- financial
        procedures.proc_fee,
        procedures.unit_qty,
        procedures.base_units,
        procedures.procedure_charge,
        cast(standard_fees.standard_fee as numeric(14, 2))          as standard_fee,
        cast(procedures.proc_fee / nullif(cast(standard_fees.standard_fee as numeric), 0)
             as numeric(9, 4))                                      as fee_ratio,
        cast(coalesce(estimates.insurance_estimate, 0) as numeric(14, 2)) as insurance_estimate,
        -- insurance
        coverage_then.primary_carrier_id                            as carrier_id,
        carrier_history.carrier_median_days_to_payment,
        cast(carrier_history.carrier_estimate_accuracy as double precision) as carrier_estimate_accuracy,
        -- procedure
        procedures.procedure_code,
        procedures.code_category,
        codes.treat_area                                            as treat_area_code,
        coalesce(codes.is_multi_visit, false)                       as is_multi_visit,
        coalesce(procedures.tooth_num, '') <> ''                    as has_tooth,
        coalesce(procedures.surf, '') <> ''                         as has_surface,
        -- history
        coalesce(prior_appointments.prior_visit_count, 0)           as prior_visit_count,
        coalesce(prior_appointments.prior_broken_count, 0)          as prior_broken_count,
        procedures.procedure_date - prior_appointments.last_visit_date as days_since_last_visit,
        coalesce(family_then.family_size, 1)                        as family_size,
        -- targets
        procedures.proc_status = 2                                  as target_accepted,
        case when procedures.proc_status = 2
            then coalesce(money_received.received_total, 0) >= procedures.procedure_charge
        end                                                         as target_fully_paid,
        case when procedures.proc_status = 2
            then coalesce(money_received.received_30d, 0) >= procedures.procedure_charge
        end                                                         as target_paid_30d,
        case when procedures.proc_status = 2 and insurance_outcome.procedure_id is not null
            then abs(insurance_outcome.insurance_paid - insurance_outcome.insurance_estimated)
                 <= greatest(0.10 * insurance_outcome.insurance_estimated, 5.00)
        end                                                         as target_insurance_accurate
    from procedures
    left join patients
        on procedures.patient_id = patients.pat_num
    left join codes
        on procedures.code_id = codes.code_num
    left join standard_fees
        on procedures.procedure_id = standard_fees.procedure_id
    left join prior_appointments
        on procedures.procedure_id = prior_appointments.procedure_id
    left join coverage_then
        on procedures.procedure_id = coverage_then.procedure_id
    left join carrier_history
        on procedures.procedure_id = carrier_history.procedure_id
    left join family_then
        on procedures.procedure_id = family_then.procedure_id
    left join estimates
        on procedures.procedure_id = estimates.procedure_id
    left join money_received
        on procedures.procedure_id = money_received.procedure_id
    left join insurance_outcome
        on procedures.procedure_id = insurance_outcome.procedure_id

)

select * from joined
