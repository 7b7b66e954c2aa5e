-- One row per payment plan (payplan.PayPlanNum), patient and insurance plans alike, System E
-- collections, in dollars, as of the run's as-of date (run setting as_of_date, default today):
--   principal_charged, interest_charged  sums of payplancharge.Principal and .Interest of the plan's
--                     debits (ChargeType 0: the scheduled installments); total_charged = both;
--   due_to_date       principal + interest of the debits with ChargeDate on or before the as-of date
--                     (a debit whose date is OpenDental's sentinel counts as due, like the stored
--                     0001-01-01 it holds);
--   credits_total     payplancharge.Principal of the credits (ChargeType 1: what was put on the plan,
--                     PayPlan version 2 and later); shown apart, never netted with the debits. A
--                     ChargeType OpenDental 24.3 does not define is neither (unknown_charge_count);
--   paid_to_date      as OpenDental's Payment Plans report (Reports/RpPayPlan.cs GetPayPlanTable) takes
--                     "paid": for a patient plan (payplan.PlanNum 0), paysplit.SplitAmt of the paysplits
--                     with this PayPlanNum ("_paid", less unearned types marked "Do Not Show on Account");
--                     for an insurance plan (PlanNum <> 0, is_insurance_plan),
--                     claimproc.InsPayAmt of the claimprocs with this PayPlanNum and Status 1 Received,
--                     4 Supplemental or 5 CapClaim ("_insPaid": insurance pays such a plan by claim payments,
--                     not by paysplits). Each dated on or before the as-of date (DatePay / DateCP; a
--                     sentinel date counts as paid before it; the payments are int_payment_plan_payments);
--   balance           total_charged - paid_to_date: what is left to pay on the plan;
--   amount_past_due   due_to_date - paid_to_date (negative when paid ahead): the report's "due" at the
--                     as-of date. For an insurance plan it is what the insurance is behind on, not the
--                     patient. This is not OpenDental's patient.PayPlanDue: that one (mart_ar_aging.
--                     pay_plan_due) counts the debits due by the as-of date + PayPlansBillInAdvanceDays
--                     (default 10), leaves closed plans out under PayPlansVersion 2 and insurance plans
--                     always (Ledgers.GetTransQueryString, PayPlan Charges: "AND pp.PlanNum=0").
-- is_dynamic: a dynamic payment plan (payplan.IsDynamic), whose production is linked (payplanlink)
-- rather than credited, and whose debits OpenDental's service issues only when due: its charged
-- amounts and balance cover the debits issued by the data's date, not the plan's whole term.
-- guarantor_id is the family (patient.Guarantor) of the plan's guarantor (payplan.Guarantor, the
-- person responsible for it); plan_guarantor_id is payplan.Guarantor itself.

with plans as (

    select * from {{ ref('stg_opendental__payplan') }}

),

patients as (

    select * from {{ ref('int_patients') }}

),

run_date as (

    select {{ as_of_date() }} as as_of_date

),

charges as (

    select
        charges.pay_plan_num,
        count(*) filter (where charges.charge_type = 0)             as debit_count,
        count(*) filter (where charges.charge_type is null)         as unknown_charge_count,
        cast(coalesce(sum(charges.principal) filter (where charges.charge_type = 0), 0) as numeric(14, 2)) as principal_charged,
        cast(coalesce(sum(charges.interest) filter (where charges.charge_type = 0), 0) as numeric(14, 2)) as interest_charged,
        cast(coalesce(sum(coalesce(charges.principal, 0) + coalesce(charges.interest, 0)) filter (
            where charges.charge_type = 0
                and coalesce(charges.charge_date, date '0001-01-01') <= run_date.as_of_date), 0)
            as numeric(14, 2))                                      as due_to_date,
        cast(coalesce(sum(charges.principal) filter (where charges.charge_type = 1), 0) as numeric(14, 2)) as credits_total,
        min(charges.charge_date) filter (where charges.charge_type = 0) as first_due_date,
        max(charges.charge_date) filter (where charges.charge_type = 0) as last_due_date
    from {{ ref('stg_opendental__payplancharge') }} as charges
    cross join run_date
    where charges.pay_plan_num is not null
    group by charges.pay_plan_num

),

payments as (

    select * from {{ ref('int_payment_plan_payments') }}

),

-- a patient plan is paid by its paysplits (RpPayPlan.GetPayPlanTable "_paid")
split_payments as (

    select
        pay_plan_num,
        count(*)                                                    as split_count,
        sum(amount)                                                 as paid_to_date,
        max(payment_date)                                           as last_payment_date
    from payments
    where payment_source = 'paysplit'
    group by pay_plan_num

),

-- insurance plans are paid by claimprocs on the plan (RpPayPlan.GetPayPlanTable "_insPaid")
insurance_payments as (

    select
        pay_plan_num,
        count(*)                                                    as claimproc_count,
        sum(amount)                                                 as paid_to_date,
        max(payment_date)                                           as last_payment_date
    from payments
    where payment_source = 'claimproc'
    group by pay_plan_num

),

paid as (

    select
        plans.pay_plan_num,
        coalesce(split_payments.split_count, 0)                     as split_count,
        coalesce(insurance_payments.claimproc_count, 0)             as insurance_claimproc_count,
        case when plans.plan_num is not null then insurance_payments.paid_to_date
             else split_payments.paid_to_date end                   as paid_to_date,
        case when plans.plan_num is not null then insurance_payments.last_payment_date
             else split_payments.last_payment_date end              as last_payment_date
    from plans
    left join split_payments
        on plans.pay_plan_num = split_payments.pay_plan_num
    left join insurance_payments
        on plans.pay_plan_num = insurance_payments.pay_plan_num

),

final as (

    select
        plans.pay_plan_num                                          as payment_plan_id,
        plans.pat_num                                               as patient_id,
        plans.guarantor                                             as plan_guarantor_id,
        coalesce(plan_guarantors.guarantor_id, plans.guarantor)     as guarantor_id,
        plans.plan_num                                              as insurance_plan_id,
        plans.plan_num is not null                                  as is_insurance_plan,
        plans.pay_plan_date                                         as plan_date,
        plans.number_of_payments,
        cast(coalesce(plans.pay_amt, 0) as numeric(14, 2))          as installment_amount,
        cast(coalesce(plans.apr, 0) as numeric(7, 3))               as apr,
        coalesce(plans.is_closed, false)                            as is_closed,
        coalesce(plans.is_dynamic, false)                           as is_dynamic,
        run_date.as_of_date,
        charges.first_due_date,
        charges.last_due_date,
        coalesce(charges.debit_count, 0)                            as debit_count,
        coalesce(charges.unknown_charge_count, 0)                   as unknown_charge_count,
        cast(coalesce(charges.principal_charged, 0) as numeric(14, 2)) as principal_charged,
        cast(coalesce(charges.interest_charged, 0) as numeric(14, 2)) as interest_charged,
        cast(coalesce(charges.principal_charged, 0)
             + coalesce(charges.interest_charged, 0) as numeric(14, 2)) as total_charged,
        cast(coalesce(charges.due_to_date, 0) as numeric(14, 2)) as due_to_date,
        cast(coalesce(charges.credits_total, 0) as numeric(14, 2)) as credits_total,
        paid.split_count,
        paid.insurance_claimproc_count,
        cast(coalesce(paid.paid_to_date, 0) as numeric(14, 2))      as paid_to_date,
        paid.last_payment_date,
        cast(coalesce(charges.principal_charged, 0) + coalesce(charges.interest_charged, 0)
             - coalesce(paid.paid_to_date, 0) as numeric(14, 2))    as balance,
        cast(coalesce(charges.due_to_date, 0)
             - coalesce(paid.paid_to_date, 0) as numeric(14, 2))    as amount_past_due
    from plans
    cross join run_date
    left join patients as plan_guarantors
        on plans.guarantor = plan_guarantors.patient_id
    left join charges
        on plans.pay_plan_num = charges.pay_plan_num
    inner join paid
        on plans.pay_plan_num = paid.pay_plan_num

)

select * from final
