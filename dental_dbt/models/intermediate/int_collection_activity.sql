-- Collection activity per family and month (grain: guarantor_id, month), System E collections, in
-- dollars and counts. The family is patient.Guarantor (the patient itself when its Guarantor is 0);
-- clinic_id is the family's clinic (the guarantor's patient.ClinicNum). Per month:
--   statements_sent, balance_stated, collected_within_30_days: the family's billing statements sent in
--                     the month (int_statements.is_billing_statement, by DateSent), the balances they
--                     stated (BalTotal) and what the family paid within 30 days of them (attributed to
--                     the statement's month; see int_statements);
--   payment_plan_due  principal + interest of the debits (payplancharge, ChargeType 0) of patient payment
--                     plans (payplan.PlanNum 0) falling due in the month (ChargeDate, on or before the run's
--                     as-of date, run setting as_of_date, default today: scheduled installments not yet due
--                     are left out), family of the plan (int_payment_plans.guarantor_id; for a charge on no
--                     known plan, the family of payplancharge.Guarantor);
--   payment_plan_paid paysplit.SplitAmt of the paysplits on a payment plan (PayPlanNum) other than an
--                     insurance plan, dated in the month (DatePay, on or before the as-of date), family of
--                     paysplit.PatNum; as RpPayPlan's "_paid", less the unearned types marked "Do Not Show
--                     on Account" (the plans' payments are int_payment_plan_payments);
--   insurance_plan_due, insurance_plan_paid: the same for insurance payment plans (payplan.PlanNum <> 0),
--                     kept apart: their debits are what insurance owes, not the family (OpenDental leaves
--                     them out of patient.PayPlanDue, Ledgers.GetTransQueryString: "AND pp.PlanNum=0"), and
--                     insurance pays them by claimprocs on the plan (claimproc.PayPlanNum, Status 1, 4, 5:
--                     InsPayAmt by DateCP, as RpPayPlan.GetPayPlanTable's "_insPaid"), family of the plan.
--                     A paysplit on an insurance plan is in neither paid column (RpPayPlan does not count it
--                     as paid on such a plan);
--   financial_contacts, collection_calls: commlog entries of the family's patients whose CommType is a
--                     CommLogTypes definition (category 27) marked FIN in its ItemValue (OpenDental's
--                     "Financial" commlog type), by CommDateTime; collection_calls are those by phone
--                     (Mode_ 3). A commlog pointing at no patient belongs to no family (listed in
--                     mart_data_exceptions).
-- The plan columns are the plans' own installments and payments per month. Summed over a family's months,
-- payment_plan_due - payment_plan_paid is not OpenDental's patient.PayPlanDue: that one, per family at a
-- date, is mart_ar_aging.pay_plan_due (debits due by the date + PayPlansBillInAdvanceDays, default 10;
-- closed plans left out under PayPlansVersion 2; Ledgers.GetTransQueryString, PayPlan Charges).
-- Rows without a date (OpenDental's sentinel, NULL in staging) belong to no month and are left out here
-- (a statement without DateSent is no statement sent; int_payment_plans still counts such a debit or
-- payment in its totals).

with patients as (

    select
        patient_id,
        coalesce(guarantor_id, patient_id)                          as family_id
    from {{ ref('int_patients') }}

),

run_date as (

    select {{ as_of_date() }} as as_of_date

),

statements as (

    select
        guarantor_id                                                as family_id,
        cast(date_trunc('month', date_sent) as date)                as month,
        1                                                           as statements_sent,
        balance_stated,
        collected_within_30_days,
        cast(0 as numeric(14, 2))                                   as payment_plan_due,
        cast(0 as numeric(14, 2))                                   as payment_plan_paid,
        cast(0 as numeric(14, 2))                                   as insurance_plan_due,
        cast(0 as numeric(14, 2))                                   as insurance_plan_paid,
        0                                                           as financial_contacts,
        0                                                           as collection_calls
    from {{ ref('int_statements') }}
    where is_billing_statement

),

plans as (

    select payment_plan_id, guarantor_id, is_insurance_plan
    from {{ ref('int_payment_plans') }}

),

plan_debits as (

    select
        coalesce(plans.guarantor_id, patients.family_id, charges.guarantor) as family_id,
        cast(date_trunc('month', charges.charge_date) as date)      as month,
        0,
        cast(0 as numeric(14, 2)),
        cast(0 as numeric(14, 2)),
        case when coalesce(plans.is_insurance_plan, false) then cast(0 as numeric(14, 2))
             else cast(coalesce(charges.principal, 0) + coalesce(charges.interest, 0) as numeric(14, 2)) end,
        cast(0 as numeric(14, 2)),
        case when coalesce(plans.is_insurance_plan, false)
             then cast(coalesce(charges.principal, 0) + coalesce(charges.interest, 0) as numeric(14, 2))
             else cast(0 as numeric(14, 2)) end,
        cast(0 as numeric(14, 2)),
        0,
        0
    from {{ ref('stg_opendental__payplancharge') }} as charges
    cross join run_date
    left join plans
        on charges.pay_plan_num = plans.payment_plan_id
    left join patients
        on charges.guarantor = patients.patient_id
    where charges.charge_type = 0
        and charges.charge_date <= run_date.as_of_date

),

plan_payments as (

    select * from {{ ref('int_payment_plan_payments') }}
    where payment_date is not null

),

-- a patient plan is paid by its paysplits (RpPayPlan.GetPayPlanTable "_paid"), family of paysplit.PatNum
split_payments as (

    select
        coalesce(patients.family_id, payments.pat_num),
        cast(date_trunc('month', payments.payment_date) as date),
        0,
        cast(0 as numeric(14, 2)),
        cast(0 as numeric(14, 2)),
        cast(0 as numeric(14, 2)),
        payments.amount,
        cast(0 as numeric(14, 2)),
        cast(0 as numeric(14, 2)),
        0,
        0
    from plan_payments as payments
    left join plans
        on payments.pay_plan_num = plans.payment_plan_id
    left join patients
        on payments.pat_num = patients.patient_id
    where payments.payment_source = 'paysplit'
        and not coalesce(plans.is_insurance_plan, false)

),

-- insurance plans are paid by claimprocs on the plan (RpPayPlan.GetPayPlanTable "_insPaid"), family of the plan
insurance_plan_payments as (

    select
        coalesce(plans.guarantor_id, patients.family_id, payments.pat_num),
        cast(date_trunc('month', payments.payment_date) as date),
        0,
        cast(0 as numeric(14, 2)),
        cast(0 as numeric(14, 2)),
        cast(0 as numeric(14, 2)),
        cast(0 as numeric(14, 2)),
        cast(0 as numeric(14, 2)),
        payments.amount,
        0,
        0
    from plan_payments as payments
    inner join plans
        on payments.pay_plan_num = plans.payment_plan_id
        and plans.is_insurance_plan
    left join patients
        on payments.pat_num = patients.patient_id
    where payments.payment_source = 'claimproc'

),

financial_types as (

    select def_num
    from {{ ref('stg_opendental__definition') }}
    where category = 27
        and item_value = 'FIN'

),

financial_commlogs as (

    select
        patients.family_id,
        cast(date_trunc('month', commlogs.comm_date_time) as date),
        0,
        cast(0 as numeric(14, 2)),
        cast(0 as numeric(14, 2)),
        cast(0 as numeric(14, 2)),
        cast(0 as numeric(14, 2)),
        cast(0 as numeric(14, 2)),
        cast(0 as numeric(14, 2)),
        1,
        case when commlogs.mode_ = 3 then 1 else 0 end
    from {{ ref('stg_opendental__commlog') }} as commlogs
    inner join financial_types
        on commlogs.comm_type = financial_types.def_num
    inner join patients
        on commlogs.pat_num = patients.patient_id
    where commlogs.comm_date_time is not null

),

unioned as (

    select * from statements
    union all select * from plan_debits
    union all select * from split_payments
    union all select * from insurance_plan_payments
    union all select * from financial_commlogs

),

families as (

    select
        patient_id,
        clinic_id
    from {{ ref('int_patients') }}

),

final as (

    select
        unioned.family_id                                           as guarantor_id,
        unioned.month,
        families.clinic_id,
        cast(sum(unioned.statements_sent) as integer)               as statements_sent,
        cast(sum(unioned.balance_stated) as numeric(14, 2))         as balance_stated,
        cast(sum(unioned.collected_within_30_days) as numeric(14, 2)) as collected_within_30_days,
        cast(sum(unioned.payment_plan_due) as numeric(14, 2))       as payment_plan_due,
        cast(sum(unioned.payment_plan_paid) as numeric(14, 2))      as payment_plan_paid,
        cast(sum(unioned.insurance_plan_due) as numeric(14, 2))     as insurance_plan_due,
        cast(sum(unioned.insurance_plan_paid) as numeric(14, 2))    as insurance_plan_paid,
        cast(sum(unioned.financial_contacts) as integer)            as financial_contacts,
        cast(sum(unioned.collection_calls) as integer)              as collection_calls
    from unioned
    left join families
        on unioned.family_id = families.patient_id
    where unioned.month is not null
        and unioned.family_id is not null
    group by 1, 2, 3

)

select * from final
