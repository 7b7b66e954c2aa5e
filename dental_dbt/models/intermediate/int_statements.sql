-- One row per account statement (statement.StatementNum), System E collections: the family it went to,
-- when and how it was sent, the balance it stated, and what the family paid in the 30 days after it.
--   guarantor_id      patient.Guarantor of statement.PatNum (the family; the patient itself when its
--                     Guarantor is 0); clinic_id that guarantor's patient.ClinicNum (the family's clinic);
--   mode_name         statement.Mode_: mail, in_person, email, electronic; 'unknown' for a code
--                     OpenDental 24.3 does not define;
--   is_billing_statement  sent (IsSent, with a DateSent) and neither a receipt nor an invoice: what the
--                     collections reports count as a statement sent;
--   balance_stated    statement.BalTotal, dollars; insurance_estimate_stated statement.InsEst;
--   collected_within_30_days  the family's paysplits (paysplit.SplitAmt, signed: refunds count negative,
--                     income-transfer pairs net to zero) dated DateSent to DateSent + 30 days, each split
--                     counted once, for the family's latest billing statement sent on or before its
--                     DatePay (two statements less than 30 days apart never both count one payment);
--   days_to_first_payment  from DateSent to the first of those splits, days.

with statements as (

    select * from {{ ref('stg_opendental__statement') }}

),

enriched as (

    select
        statements.statement_num                                    as statement_id,
        statements.pat_num                                          as patient_id,
        coalesce(patients.guarantor_id, statements.pat_num)         as guarantor_id,
        guarantors.clinic_id,
        statements.date_sent,
        statements.date_range_from,
        statements.date_range_to,
        statements.mode_                                            as mode,
        statements.mode__code                                       as mode_code,
        case statements.mode_
            when 0 then 'mail'
            when 1 then 'in_person'
            when 2 then 'email'
            when 3 then 'electronic'
            else 'unknown'
        end                                                         as mode_name,
        statements.is_sent,
        statements.is_receipt,
        statements.is_invoice or statements.is_invoice_copy         as is_invoice,
        coalesce(statements.is_sent, false)
            and statements.date_sent is not null
            and not coalesce(statements.is_receipt, false)
            and not coalesce(statements.is_invoice, false)
            and not coalesce(statements.is_invoice_copy, false)     as is_billing_statement,
        cast(coalesce(statements.bal_total, 0) as numeric(14, 2))   as balance_stated,
        cast(coalesce(statements.ins_est, 0) as numeric(14, 2))     as insurance_estimate_stated
    from statements
    left join {{ ref('int_patients') }} as patients
        on statements.pat_num = patients.patient_id
    left join {{ ref('int_patients') }} as guarantors
        on coalesce(patients.guarantor_id, statements.pat_num) = guarantors.patient_id

),

family_splits as (

    select
        splits.split_num,
        coalesce(patients.guarantor_id, patients.patient_id)        as guarantor_id,
        splits.date_pay,
        cast(coalesce(splits.split_amt, 0) as numeric(14, 2))       as split_amount
    from {{ ref('stg_opendental__paysplit') }} as splits
    inner join {{ ref('int_patients') }} as patients
        on splits.pat_num = patients.patient_id
    where splits.date_pay is not null

),

split_statement as (

    -- each split to the family's latest billing statement sent on or before its day, within 30 days
    select distinct on (family_splits.split_num)
        family_splits.split_num,
        enriched.statement_id,
        family_splits.date_pay,
        family_splits.split_amount
    from family_splits
    inner join enriched
        on family_splits.guarantor_id = enriched.guarantor_id
        and enriched.is_billing_statement
        and family_splits.date_pay between enriched.date_sent and enriched.date_sent + 30
    order by family_splits.split_num, enriched.date_sent desc, enriched.statement_id desc

),

collected as (

    select
        statement_id,
        count(*)                                                    as split_count_within_30_days,
        cast(sum(split_amount) as numeric(14, 2))                   as collected_within_30_days,
        min(date_pay)                                               as first_payment_date
    from split_statement
    group by statement_id

),

final as (

    select
        enriched.*,
        coalesce(collected.split_count_within_30_days, 0)           as split_count_within_30_days,
        cast(coalesce(collected.collected_within_30_days, 0) as numeric(14, 2)) as collected_within_30_days,
        collected.first_payment_date - enriched.date_sent           as days_to_first_payment
    from enriched
    left join collected
        on enriched.statement_id = collected.statement_id

)

select * from final
