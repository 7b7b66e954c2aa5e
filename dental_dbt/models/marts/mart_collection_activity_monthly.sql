-- Collection activity per month and clinic (grain: month, clinic_id) for the AR dashboard, from
-- int_collection_activity (System E), dollars and counts:
--   families_billed, statements_sent, balance_stated: families sent a statement, billing statements
--                     sent (by DateSent) and the balances they stated (statement.BalTotal);
--   collected_within_30_days: what those families paid (paysplit.SplitAmt) within 30 days of a
--                     statement, counted in the statement's month; collection_rate_30_days =
--                     collected_within_30_days / balance_stated (NULL when nothing was stated);
--   payment_plan_due, payment_plan_paid: patient payment-plan installments falling due in the month (up
--                     to the run's as-of date) and paysplits on those plans paid in it;
--   insurance_plan_due, insurance_plan_paid: the same for insurance payment plans (payplan.PlanNum <> 0),
--                     apart: owed and paid by insurance (claimprocs on the plan), not by the family.
--                     Neither pair is OpenDental's patient.PayPlanDue (mart_ar_aging.pay_plan_due);
--   financial_contacts, collection_calls, families_called: commlog entries of the Financial type (by
--                     phone for the calls) and the families they reached.
-- clinic_id is the family's clinic (the guarantor's patient.ClinicNum); 0 = none.

with activity as (

    select * from {{ ref('int_collection_activity') }}

),

final as (

    select
        month,
        coalesce(clinic_id, 0)                                      as clinic_id,
        count(*) filter (where statements_sent > 0)                 as families_billed,
        cast(sum(statements_sent) as integer)                       as statements_sent,
        cast(sum(balance_stated) as numeric(14, 2))                 as balance_stated,
        cast(sum(collected_within_30_days) as numeric(14, 2))       as collected_within_30_days,
        cast(sum(collected_within_30_days) / nullif(sum(balance_stated), 0) as numeric(9, 4))
                                                                    as collection_rate_30_days,
        cast(sum(payment_plan_due) as numeric(14, 2))               as payment_plan_due,
        cast(sum(payment_plan_paid) as numeric(14, 2))              as payment_plan_paid,
        cast(sum(insurance_plan_due) as numeric(14, 2))             as insurance_plan_due,
        cast(sum(insurance_plan_paid) as numeric(14, 2))            as insurance_plan_paid,
        cast(sum(financial_contacts) as integer)                    as financial_contacts,
        cast(sum(collection_calls) as integer)                      as collection_calls,
        count(*) filter (where financial_contacts > 0)              as families_called
    from activity
    group by 1, 2

)

select * from final
