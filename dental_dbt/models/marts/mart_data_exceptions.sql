-- One row per OpenDental row that breaks one of the rules below, with what the marts do about it
-- (dental_dbt/README.md and docs/dbt.md, "Dirty data" and "Foreign keys"). Keys and rule names only: no
-- patient data. It reads staging only, and int_hidden_unearned_types and int_practice_settings (a filter and a
-- parse of staging, without foreign keys), so no failing or warning test of an intermediate model can skip
-- it: it lists the bad rows exactly when the rest of the build may not run.
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
--   claimproc_claimnum_0  a received claimproc on no claim; orphan_row: a commlog.PatNum of no patient (kept,
--                         its own kind: int_communications itself turns it into patient_id NULL and is_orphan);
--   orphan_reference      a key read from OpenDental that names no row of the table it refers to (a procedure
--                         of a deleted appointment, an estimate of a deleted procedure, a patient whose
--                         guarantor is gone...): every reference a warn-level foreign_key test checks, and
--                         payplancharge.PayPlanNum (no model of one row per charge to test it on), listed
--                         in `references` below with what the marts do with the row. OpenDental does not
--                         enforce these keys; its Database Maintenance repairs each kind
--                         (OpenDentBusiness/Data Interface/DatabaseMaintenances.cs, e.g.
--                         ProcedurelogWithInvalidAptNum, ClaimProcDeleteEstimateWithInvalidProcNum,
--                         PatientBadGuarantor, ClaimProcWithInvalidClaimNum, ProcedurelogWithInvalidProvNum,
--                         ProcedurelogCodeNumInvalid, PayPlanChargeWithInvalidPayPlanNum);
--   missing_key           a key stored as 0 (NULL from staging on) where a mart needs the row it would name, so
--                         the mart leaves the row out as OpenDental's reports do (the same handling as an
--                         orphan_reference of that column, which compares non-NULL keys only; Database
--                         Maintenance's PatientMissing and InsPlanInvalidCarrier look for them): any
--                         procedurelog.PatNum and adjustment.PatNum (out of production and AR; a procedure also
--                         out of fct_treatment_journey); claimproc.PatNum and claimproc.PlanNum of a Received or
--                         Supplemental claimproc on an insurance check, and insplan.CarrierNum (their insurance
--                         payments out of mart_collections_daily: RpProdInc.GetDailyProdIncDataSet INNER JOINs
--                         patient, insplan and carrier); and the rows of PatNum 0 carrying money the AR aging
--                         would age, which it ages in no family (Ledgers.GetAgingGuarTransQuery joins the
--                         patient): any paysplit.PatNum of a SplitAmt (unless of a hidden unearned type), and
--                         claimproc.PatNum of a claimproc of a complete procedure or none paid or written off
--                         (Status 1, 4, 5, 7) or pending (Status 0, 1: InsPayEst, WriteOff), once per claimproc;
--                         and the payment plan rows of a key 0 the aging reads under the practice's
--                         PayPlansVersion (int_practice_settings; Ledgers.GetTransQueryString, the rule in
--                         macros/pay_plan_aging.sql), once per row: payplan.PatNum of a CompletedAmt (versions 1
--                         and 4, version 4 insurance plans only) or of a credit's Principal (version 2: credits
--                         are aged on the plan's PatNum), payplancharge.PatNum of a credit's Principal (version
--                         3) and payplancharge.Guarantor of a patient plan's debit of Principal + Interest
--                         (version 2, and every version's PayPlanDue but a closed plan's under 2). Dynamic plans'
--                         links are aged on the linked procedure's or adjustment's PatNum, listed above;
--   near_duplicate_plan   insplan copies; control_chars: control characters in commlog.Note;
--   unusual_status        a code OpenDental 24.3 does not define: appointment.AptStatus, procedurelog.ProcStatus,
--                         patient.PatStatus, commlog.Mode_ and commlog.SentOrReceived, securitylog.PermType (each
--                         decoded as 'unknown'), clockevent.ClockStatus (no work row: out of
--                         mart_staff_hours_weekly).
-- Not listed: rows a mart leaves out by its own definition rather than for a broken rule (a lab case not yet
-- sent, whose DateTimeSent is OpenDental's MinValue until it is sent; a clock row still open; appointments
-- not on the book), and the rows with a sentinel date in columns no rule here reads, which the daily marts
-- leave out: appointment.AptDateTime, paysplit.DatePay, claimproc.DateCP, adjustment.AdjDate, among others.

{#- The references OpenDental holds and does not enforce: one entry per warn-level foreign_key test's source
    column (a test on a derived column, e.g. int_statements.guarantor_id or int_claims.carrier_id, is covered
    by the entries of the columns it is derived from: patient.Guarantor, statement.PatNum, insplan.CarrierNum).
    macros/orphan_references.sql writes one CTE per entry. "kept" = the row stays in every model with the key
    as stored (a dimension has no row for it). AR = int_aging_transactions / mart_ar_aging, which join the
    patient for the family as OpenDental's aging does (Ledgers.GetTransQueryString). -#}
{%- set not_found = "kept with the key as stored, which no dimension row describes" -%}
{#- What the marts do with a row of no patient, no plan or no carrier, whether the key names no row
    (orphan_reference) or is 0 (missing_key): the same joins leave it out. -#}
{%- set procedure_of_no_patient = 'no patient: if complete, out of production (mart_production_daily, '
    ~ 'mart_provider_production; RpProdInc.GetDailyProdIncDataSet INNER JOINs patient) and AR (the aging joins '
    ~ 'the patient, Ledgers.GetAgingGuarTransQuery) and mart_staff_hours_weekly\'s production; not a '
    ~ 'row of fct_treatment_journey; counted in mart_treatment_acceptance_monthly if presented on a saved plan; '
    ~ 'kept in fct_procedure' -%}
{%- set adjustment_of_no_patient = 'no patient: out of production (mart_production_daily, '
    ~ 'mart_provider_production; RpProdInc.GetDailyProdIncDataSet INNER JOINs patient) and AR (the aging joins '
    ~ 'the patient)' -%}
{%- set claimproc_of_no_patient = 'no patient: its insurance payment is out of mart_collections_daily '
    ~ '(RpProdInc.GetDailyProdIncDataSet INNER JOINs patient); its write-off counts in production (the report\'s '
    ~ 'write-offs LEFT JOIN patient); out of AR (no family)' -%}
{%- set split_of_no_patient = 'no patient: counted in collections (the daily report LEFT JOINs patient); out of AR '
    ~ '(aged in no family)' -%}
{%- set aged_claimproc_of_no_patient = 'no patient: out of AR (aged in no family: its payment and write-off, or '
    ~ 'its pending estimate); on no insurance check, so in no income; its write-off counts in production as '
    ~ 'any claimproc\'s of its status' -%}
{#- A payment plan row of a key 0 the aging reads under the practice's PayPlansVersion: aged in no family
    (Ledgers.GetAgingGuarTransQuery joins the patient). -#}
{%- set plan_of_no_patient = 'no patient: out of AR (aged in no family: its CompletedAmt under PayPlansVersion 1 '
    ~ 'or 4, its credits\' Principal under 2); kept in int_payment_plans with no patient' -%}
{%- set plan_credit_of_no_patient = 'no patient: out of AR (PayPlansVersion 3 ages its credit, -Principal, in no '
    ~ 'family)' -%}
{%- set plan_debit_of_no_guarantor = 'no guarantor: out of AR (PayPlansVersion 2 ages the debit, Principal + '
    ~ 'Interest, in no family) and out of every family\'s PayPlanDue; collection activity counts it in its '
    ~ 'plan\'s family' -%}
{%- set claimproc_of_no_plan = 'no plan: its insurance payment is out of mart_collections_daily '
    ~ '(RpProdInc.GetDailyProdIncDataSet INNER JOINs insplan); its write-off counts in production and its money '
    ~ 'in AR as stored; no carrier' -%}
{%- set plan_of_no_carrier = 'no carrier: the insurance payments of its claimprocs are out of '
    ~ 'mart_collections_daily (RpProdInc.GetDailyProdIncDataSet INNER JOINs carrier); its write-offs count in '
    ~ 'production and its money in AR as stored; ' -%}
{%- set references = [
    {'table': 'procedurelog', 'column': 'PatNum', 'model': 'stg_opendental__procedurelog', 'key': 'proc_num',
     'fk': 'pat_num', 'parent': 'stg_opendental__patient', 'parent_key': 'pat_num',
     'handling': procedure_of_no_patient},
    {'table': 'procedurelog', 'column': 'AptNum', 'model': 'stg_opendental__procedurelog', 'key': 'proc_num',
     'fk': 'apt_num', 'parent': 'stg_opendental__appointment', 'parent_key': 'apt_num',
     'handling': 'kept, on no appointment: not scheduled in mart_treatment_acceptance_monthly; mart_patient_scores '
         ~ 'counts a planned one as accepted (AptNum set); no money moves'},
    {'table': 'procedurelog', 'column': 'ClinicNum', 'model': 'stg_opendental__procedurelog', 'key': 'proc_num',
     'fk': 'clinic_num', 'parent': 'stg_opendental__clinic', 'parent_key': 'clinic_num',
     'handling': 'kept: production counts it under the stored ClinicNum (no dim_clinic row); AR unaffected'},
    {'table': 'procedurelog', 'column': 'ProvNum', 'model': 'stg_opendental__procedurelog', 'key': 'proc_num',
     'fk': 'prov_num', 'parent': 'stg_opendental__provider', 'parent_key': 'prov_num',
     'handling': 'production (mart_production_daily, mart_provider_production) counts it under provider 0 (none); AR '
         ~ 'unaffected; fct_procedure keeps the stored ProvNum'},
    {'table': 'procedurelog', 'column': 'CodeNum', 'model': 'stg_opendental__procedurelog', 'key': 'proc_num',
     'fk': 'code_num', 'parent': 'stg_opendental__procedurecode', 'parent_key': 'code_num',
     'handling': 'kept with procedure_code NULL: its charge counts in production and AR'},
    {'table': 'adjustment', 'column': 'PatNum', 'model': 'stg_opendental__adjustment', 'key': 'adj_num',
     'fk': 'pat_num', 'parent': 'stg_opendental__patient', 'parent_key': 'pat_num',
     'handling': adjustment_of_no_patient},
    {'table': 'adjustment', 'column': 'ProcNum', 'model': 'stg_opendental__adjustment', 'key': 'adj_num',
     'fk': 'proc_num', 'parent': 'stg_opendental__procedurelog', 'parent_key': 'proc_num',
     'handling': 'kept: counted in production and AR as stored, attached to no procedure'},
    {'table': 'adjustment', 'column': 'ProvNum', 'model': 'stg_opendental__adjustment', 'key': 'adj_num',
     'fk': 'prov_num', 'parent': 'stg_opendental__provider', 'parent_key': 'prov_num',
     'handling': 'production counts it under provider 0 (none); AR unaffected'},
    {'table': 'appointment', 'column': 'PatNum', 'model': 'stg_opendental__appointment', 'key': 'apt_num',
     'fk': 'pat_num', 'parent': 'stg_opendental__patient', 'parent_key': 'pat_num',
     'handling': 'kept: counted in mart_appointments_daily; ' ~ not_found},
    {'table': 'appointment', 'column': 'ProvNum', 'model': 'stg_opendental__appointment', 'key': 'apt_num',
     'fk': 'prov_num', 'parent': 'stg_opendental__provider', 'parent_key': 'prov_num',
     'handling': 'kept: mart_appointments_daily counts it under the stored ProvNum (no dim_provider row)'},
    {'table': 'appointment', 'column': 'ProvHyg', 'model': 'stg_opendental__appointment', 'key': 'apt_num',
     'fk': 'prov_hyg', 'parent': 'stg_opendental__provider', 'parent_key': 'prov_num',
     'handling': 'kept as fct_appointment.hygienist_id (no dim_provider row)'},
    {'table': 'appointment', 'column': 'ClinicNum', 'model': 'stg_opendental__appointment', 'key': 'apt_num',
     'fk': 'clinic_num', 'parent': 'stg_opendental__clinic', 'parent_key': 'clinic_num',
     'handling': 'kept: mart_appointments_daily counts it under the stored ClinicNum (no dim_clinic row)'},
    {'table': 'claim', 'column': 'PatNum', 'model': 'stg_opendental__claim', 'key': 'claim_num',
     'fk': 'pat_num', 'parent': 'stg_opendental__patient', 'parent_key': 'pat_num',
     'handling': 'kept in int_claims, fct_claim and mart_claims_monthly; ' ~ not_found},
    {'table': 'claim', 'column': 'PlanNum', 'model': 'stg_opendental__claim', 'key': 'claim_num',
     'fk': 'plan_num', 'parent': 'stg_opendental__insplan', 'parent_key': 'plan_num',
     'handling': 'kept in int_claims and fct_claim with no carrier (carrier_id NULL)'},
    {'table': 'claim', 'column': 'ClinicNum', 'model': 'stg_opendental__claim', 'key': 'claim_num',
     'fk': 'clinic_num', 'parent': 'stg_opendental__clinic', 'parent_key': 'clinic_num',
     'handling': 'kept in int_claims and fct_claim; ' ~ not_found},
    {'table': 'claim', 'column': 'ProvTreat', 'model': 'stg_opendental__claim', 'key': 'claim_num',
     'fk': 'prov_treat', 'parent': 'stg_opendental__provider', 'parent_key': 'prov_num',
     'handling': 'kept in int_claims and fct_claim; ' ~ not_found},
    {'table': 'claimproc', 'column': 'ClaimNum', 'model': 'stg_opendental__claimproc', 'key': 'claim_proc_num',
     'fk': 'claim_num', 'parent': 'stg_opendental__claim', 'parent_key': 'claim_num',
     'handling': 'kept: its payment counts in collections (by its check) and AR, its write-off in production; in no '
         ~ 'claim\'s recomputed totals'},
    {'table': 'claimproc', 'column': 'ProcNum', 'model': 'stg_opendental__claimproc', 'key': 'claim_proc_num',
     'fk': 'proc_num', 'parent': 'stg_opendental__procedurelog', 'parent_key': 'proc_num',
     'handling': 'kept: an estimate moves no money; a payment counts in collections and its write-off in production '
         ~ '(under write-off date setting 2 only the part past the snapshot estimate); out of AR (the aging '
         ~ 'counts a claimproc of a complete procedure or of none)'},
    {'table': 'claimproc', 'column': 'PatNum', 'model': 'stg_opendental__claimproc', 'key': 'claim_proc_num',
     'fk': 'pat_num', 'parent': 'stg_opendental__patient', 'parent_key': 'pat_num',
     'handling': claimproc_of_no_patient},
    {'table': 'claimproc', 'column': 'ProvNum', 'model': 'stg_opendental__claimproc', 'key': 'claim_proc_num',
     'fk': 'prov_num', 'parent': 'stg_opendental__provider', 'parent_key': 'prov_num',
     'handling': 'its write-off counts in production under provider 0 (none); collections and AR unaffected'},
    {'table': 'claimproc', 'column': 'ClinicNum', 'model': 'stg_opendental__claimproc', 'key': 'claim_proc_num',
     'fk': 'clinic_num', 'parent': 'stg_opendental__clinic', 'parent_key': 'clinic_num',
     'handling': 'kept: counted under the stored ClinicNum in collections and write-offs (no dim_clinic row)'},
    {'table': 'claimproc', 'column': 'PlanNum', 'model': 'stg_opendental__claimproc', 'key': 'claim_proc_num',
     'fk': 'plan_num', 'parent': 'stg_opendental__insplan', 'parent_key': 'plan_num',
     'handling': claimproc_of_no_plan},
    {'table': 'claimproc', 'column': 'ClaimPaymentNum', 'model': 'stg_opendental__claimproc', 'key': 'claim_proc_num',
     'fk': 'claim_payment_num', 'parent': 'stg_opendental__claimpayment', 'parent_key': 'claim_payment_num',
     'handling': 'out of mart_collections_daily (no insurance check, no CheckDate); counted in AR by DateCP'},
    {'table': 'claimpayment', 'column': 'ClinicNum', 'model': 'stg_opendental__claimpayment',
     'key': 'claim_payment_num',
     'fk': 'clinic_num', 'parent': 'stg_opendental__clinic', 'parent_key': 'clinic_num',
     'handling': 'kept in int_claim_payments; ' ~ not_found},
    {'table': 'claimtracking', 'column': 'ClaimNum', 'model': 'stg_opendental__claimtracking',
     'key': 'claim_tracking_num',
     'fk': 'claim_num', 'parent': 'stg_opendental__claim', 'parent_key': 'claim_num',
     'handling': 'kept in int_claim_tracking; it follows up no claim'},
    {'table': 'insplan', 'column': 'CarrierNum', 'model': 'stg_opendental__insplan', 'key': 'plan_num',
     'fk': 'carrier_num', 'parent': 'stg_opendental__carrier', 'parent_key': 'carrier_num',
     'handling': plan_of_no_carrier ~ 'its claims and checks keep the stored carrier_id, which names no carrier'},
    {'table': 'patient', 'column': 'Guarantor', 'model': 'stg_opendental__patient', 'key': 'pat_num',
     'fk': 'guarantor', 'parent': 'stg_opendental__patient', 'parent_key': 'pat_num',
     'handling': 'out of AR: mart_ar_aging ages no family whose guarantor has no patient row (OpenDental stores aging '
         ~ 'on that row, RpAging joins it); production unaffected'},
    {'table': 'patient', 'column': 'ClinicNum', 'model': 'stg_opendental__patient', 'key': 'pat_num',
     'fk': 'clinic_num', 'parent': 'stg_opendental__clinic', 'parent_key': 'clinic_num',
     'handling': 'kept: statements and collection activity of its family count under the stored ClinicNum (no '
         ~ 'dim_clinic row)'},
    {'table': 'payment', 'column': 'PatNum', 'model': 'stg_opendental__payment', 'key': 'pay_num',
     'fk': 'pat_num', 'parent': 'stg_opendental__patient', 'parent_key': 'pat_num',
     'handling': 'kept: its splits count in collections; fct_payment ' ~ not_found},
    {'table': 'payment', 'column': 'ClinicNum', 'model': 'stg_opendental__payment', 'key': 'pay_num',
     'fk': 'clinic_num', 'parent': 'stg_opendental__clinic', 'parent_key': 'clinic_num',
     'handling': 'kept: its splits count in collections; fct_payment ' ~ not_found},
    {'table': 'paysplit', 'column': 'PatNum', 'model': 'stg_opendental__paysplit', 'key': 'split_num',
     'fk': 'pat_num', 'parent': 'stg_opendental__patient', 'parent_key': 'pat_num',
     'handling': 'kept: counted in collections; out of AR (no family); int_collection_activity counts it in a family '
         ~ 'of its own PatNum'},
    {'table': 'payplan', 'column': 'PatNum', 'model': 'stg_opendental__payplan', 'key': 'pay_plan_num',
     'fk': 'pat_num', 'parent': 'stg_opendental__patient', 'parent_key': 'pat_num',
     'handling': 'kept in int_payment_plans; ' ~ not_found},
    {'table': 'payplan', 'column': 'Guarantor', 'model': 'stg_opendental__payplan', 'key': 'pay_plan_num',
     'fk': 'guarantor', 'parent': 'stg_opendental__patient', 'parent_key': 'pat_num',
     'handling': 'kept: int_payment_plans and collection activity count the plan in a family of the stored Guarantor'},
    {'table': 'payplancharge', 'column': 'Guarantor', 'model': 'stg_opendental__payplancharge',
     'key': 'pay_plan_charge_num',
     'fk': 'guarantor', 'parent': 'stg_opendental__patient', 'parent_key': 'pat_num',
     'handling': 'kept: a charge on no known plan counts in collection activity in a family of the stored Guarantor'},
    {'table': 'commlog', 'column': 'CommType', 'model': 'stg_opendental__commlog', 'key': 'commlog_num',
     'fk': 'comm_type', 'parent': 'stg_opendental__definition', 'parent_key': 'def_num',
     'handling': 'kept: mart_communications_monthly counts it under the stored purpose_id, which has no name'},
    {'table': 'commlog', 'column': 'UserNum', 'model': 'stg_opendental__commlog', 'key': 'commlog_num',
     'fk': 'user_num', 'parent': 'stg_opendental__userod', 'parent_key': 'user_num',
     'handling': 'kept in int_communications with the stored user_id (no user_provider_id)'},
    {'table': 'securitylog', 'column': 'UserNum', 'model': 'stg_opendental__securitylog', 'key': 'security_log_num',
     'fk': 'user_num', 'parent': 'stg_opendental__userod', 'parent_key': 'user_num',
     'handling': 'kept: mart_system_activity_daily counts it under the stored user_id'},
    {'table': 'securitylog', 'column': 'PatNum', 'model': 'stg_opendental__securitylog', 'key': 'security_log_num',
     'fk': 'pat_num', 'parent': 'stg_opendental__patient', 'parent_key': 'pat_num',
     'handling': 'kept: mart_system_activity_daily counts it, the PatNum among patients_touched'},
    {'table': 'userod', 'column': 'ProvNum', 'model': 'stg_opendental__userod', 'key': 'user_num',
     'fk': 'prov_num', 'parent': 'stg_opendental__provider', 'parent_key': 'prov_num',
     'handling': 'kept as the user_provider_id of the user\'s commlogs and log entries, which names no provider'},
    {'table': 'insverifyhist', 'column': 'FKey', 'suffix': 'patplan', 'model': 'stg_opendental__insverifyhist',
     'key': 'ins_verify_hist_num', 'fk': 'f_key', 'where': 'child.verify_type = 2',
     'parent': 'stg_opendental__patplan', 'parent_key': 'pat_plan_num',
     'handling': 'kept in int_insurance_verifications: a patient enrollment verification of no coverage, matching no '
         ~ 'appointment'},
    {'table': 'insverifyhist', 'column': 'FKey', 'suffix': 'insplan', 'model': 'stg_opendental__insverifyhist',
     'key': 'ins_verify_hist_num', 'fk': 'f_key', 'where': 'child.verify_type = 1',
     'parent': 'stg_opendental__insplan', 'parent_key': 'plan_num',
     'handling': 'kept in int_insurance_verifications: a benefit verification of no plan, matching no appointment'},
    {'table': 'labcase', 'column': 'PatNum', 'model': 'stg_opendental__labcase', 'key': 'lab_case_num',
     'fk': 'pat_num', 'parent': 'stg_opendental__patient', 'parent_key': 'pat_num',
     'handling': 'kept: counted in mart_lab_cases_monthly'},
    {'table': 'labcase', 'column': 'AptNum', 'model': 'stg_opendental__labcase', 'key': 'lab_case_num',
     'fk': 'apt_num', 'parent': 'stg_opendental__appointment', 'parent_key': 'apt_num',
     'handling': 'kept: counted in mart_lab_cases_monthly'},
    {'table': 'perioexam', 'column': 'PatNum', 'model': 'stg_opendental__perioexam', 'key': 'perio_exam_num',
     'fk': 'pat_num', 'parent': 'stg_opendental__patient', 'parent_key': 'pat_num',
     'handling': 'kept in int_perio_exams; in mart_perio_followup only if int_patients holds the patient, so not'},
    {'table': 'perioexam', 'column': 'ProvNum', 'model': 'stg_opendental__perioexam', 'key': 'perio_exam_num',
     'fk': 'prov_num', 'parent': 'stg_opendental__provider', 'parent_key': 'prov_num',
     'handling': 'kept: mart_perio_followup shows the stored provider_id'},
    {'table': 'patplan', 'column': 'PatNum', 'model': 'stg_opendental__patplan', 'key': 'pat_plan_num',
     'fk': 'pat_num', 'parent': 'stg_opendental__patient', 'parent_key': 'pat_num',
     'handling': 'kept in int_patient_coverage; it covers no patient of dim_patient'},
    {'table': 'inssub', 'column': 'PlanNum', 'model': 'stg_opendental__inssub', 'key': 'ins_sub_num',
     'fk': 'plan_num', 'parent': 'stg_opendental__insplan', 'parent_key': 'plan_num',
     'handling': 'kept: the coverage keeps the stored insurance_plan_id (no dim_insurance_plan row)'},
    {'table': 'scheduleop', 'column': 'OperatoryNum', 'model': 'stg_opendental__scheduleop', 'key': 'schedule_op_num',
     'fk': 'operatory_num', 'parent': 'stg_opendental__operatory', 'parent_key': 'operatory_num',
     'handling': 'kept: int_operatory_schedule opens the stored operatory_id, counted in mart_chair_utilization_daily'},
    {'table': 'operatory', 'column': 'ClinicNum', 'model': 'stg_opendental__operatory', 'key': 'operatory_num',
     'fk': 'clinic_num', 'parent': 'stg_opendental__clinic', 'parent_key': 'clinic_num',
     'handling': 'kept: the operatory\'s minutes count under the stored clinic_id in mart_chair_utilization_daily'},
    {'table': 'statement', 'column': 'PatNum', 'model': 'stg_opendental__statement', 'key': 'statement_num',
     'fk': 'pat_num', 'parent': 'stg_opendental__patient', 'parent_key': 'pat_num',
     'handling': 'kept: int_statements and collection activity count it in a family of its own PatNum'},
    {'table': 'payplancharge', 'column': 'PayPlanNum', 'model': 'stg_opendental__payplancharge',
     'key': 'pay_plan_charge_num', 'fk': 'pay_plan_num', 'parent': 'stg_opendental__payplan',
     'parent_key': 'pay_plan_num',
     'handling': 'a charge of no plan: in no plan of int_payment_plans; the AR aging reads it without its plan '
         ~ 'only as a PayPlansVersion 3 credit, aged on its own PatNum; otherwise not aged (version 2: a credit '
         ~ 'on the missing plan\'s PatNum is in no family, a debit 0; Ledgers.GetTransQueryString LEFT JOINs '
         ~ 'payplan) and no PayPlanDue (INNER JOIN payplan); a debit due by the as-of date counts in '
         ~ 'int_collection_activity\'s payment_plan_due, family of its Guarantor'},
] %}

with procedures as (

    select * from {{ ref('stg_opendental__procedurelog') }}

),

{{ orphan_reference_ctes(references) }}

completed_without_date as (

    select
        'sentinel_date'                                             as exception_kind,
        'procedurelog'                                              as table_name,
        'ProcDate'                                                  as column_name,
        proc_num                                                    as key_num,
        'out of mart_production_daily (no date of service); in AR as the oldest charge' as handling
    from procedures
    where proc_status = 2
        and proc_date is null

),

negative_fees as (

    select
        'negative_amount', 'procedurelog', 'ProcFee', proc_num,
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

-- the practice's PayPlansVersion (int_practice_settings: a parse of staging's preference rows, without foreign
-- keys, so no warning skips it), which decides the payment plan rows the aging reads
settings as (

    select pay_plans_version from {{ ref('int_practice_settings') }}

),

pay_plans as (

    select * from {{ ref('stg_opendental__payplan') }}

),

-- the payplancharge rows the aging ages under the version ('PPCComplete': version 2 every charge, version 3
-- the credits; Ledgers.GetTransQueryString), carrying money, with the column their patient is read from
aged_plan_charges as (

    select
        charges.pay_plan_charge_num,
        plans.pay_plan_num,
        {{ pay_plan_charge_patient('settings.pay_plans_version', 'charges', 'plans') }}              as patient,
        {{ pay_plan_charge_patient('settings.pay_plans_version', 'charges', 'plans', names=true) }}  as patient_key
    from {{ ref('stg_opendental__payplancharge') }} as charges
    cross join settings
    left join pay_plans as plans
        on charges.pay_plan_num = plans.pay_plan_num
    where {{ pay_plan_ages_charge('settings.pay_plans_version', 'charges.charge_type_code') }}
        and {{ pay_plan_charge_amount('charges', 'plans') }} <> 0

),

-- the payment plan rows of a key 0 the aging would age in no family, each once (union): a plan's PatNum,
-- read for its CompletedAmt ('PPComplete', versions 1 and 4, version 4 insurance plans only) and for its
-- credits (version 2); a charge's PatNum (credits, version 3) and Guarantor (debits of patient plans: version
-- 2 ages them, every version's PayPlanDue reads them, 'PPCharge'). A dynamic plan's links are aged on the
-- linked procedure's or adjustment's PatNum, not the plan's (versions 2 and 3, 'PayPlanLink'): a link of a
-- procedure or adjustment of PatNum 0 goes with that row, listed above
plan_keys as (

    select
        'payplan' as table_name, 'PatNum' as column_name, plans.pay_plan_num as key_num,
        '{{ plan_of_no_patient | replace("'", "''") }}' as handling
    from pay_plans as plans
    cross join settings
    where plans.pat_num is null
        and plans.completed_amt <> 0
        and {{ pay_plan_ages_completed('settings.pay_plans_version', 'plans.plan_num') }}
    union
    select
        split_part(patient_key, '.', 1), split_part(patient_key, '.', 2),
        case when patient_key = 'payplan.PatNum' then pay_plan_num else pay_plan_charge_num end,
        case patient_key
            when 'payplan.PatNum' then '{{ plan_of_no_patient | replace("'", "''") }}'
            when 'payplancharge.PatNum' then '{{ plan_credit_of_no_patient | replace("'", "''") }}'
            else '{{ plan_debit_of_no_guarantor | replace("'", "''") }}' end
    from aged_plan_charges
    where patient is null
        -- a credit on no plan row has no plan PatNum to fix (payplancharge.PayPlanNum names no plan)
        and not (patient_key = 'payplan.PatNum' and pay_plan_num is null)
    union
    select 'payplancharge', 'Guarantor', charges.pay_plan_charge_num,
        '{{ plan_debit_of_no_guarantor | replace("'", "''") }}'
    from {{ ref('stg_opendental__payplancharge') }} as charges
    cross join settings
    inner join pay_plans as plans
        on charges.pay_plan_num = plans.pay_plan_num
    where charges.guarantor is null
        and {{ pay_plan_ages_debit_due('settings.pay_plans_version', 'charges', 'plans') }}

),

-- keys OpenDental stores as 0 (NULL from staging on) where a mart needs the row they would name, so the mart
-- leaves the row out: the orphan CTEs above compare non-NULL keys only
missing_keys as (

    select
        'missing_key', 'procedurelog', 'PatNum', proc_num, '{{ procedure_of_no_patient | replace("'", "''") }}'
    from procedures
    where pat_num is null
    union all
    select
        'missing_key', 'adjustment', 'PatNum', adj_num, '{{ adjustment_of_no_patient | replace("'", "''") }}'
    from {{ ref('stg_opendental__adjustment') }}
    where pat_num is null
    union all
    -- the claimprocs mart_collections_daily would count: Received or Supplemental, on an insurance check
    select
        'missing_key', 'claimproc', keys.column_name, claim_proc_num, keys.handling
    from {{ ref('stg_opendental__claimproc') }}
    cross join lateral (
        values ('PatNum', pat_num, '{{ claimproc_of_no_patient | replace("'", "''") }}'),
               ('PlanNum', plan_num, '{{ claimproc_of_no_plan | replace("'", "''") }}')
    ) as keys (column_name, key_value, handling)
    where status in (1, 4)
        and claim_payment_num is not null
        and keys.key_value is null
    union all
    -- the rows of PatNum 0 carrying money the AR aging would age, which it ages in no family: it joins the
    -- patient for the family ("INNER JOIN patient p ON p.PatNum=trans.PatNum", Ledgers.GetAgingGuarTransQuery;
    -- int_aging_transactions, mart_ar_aging). A paysplit of a SplitAmt, unless of an unearned type hidden
    -- from the account (int_hidden_unearned_types, which the aging leaves out anyway; a filter of staging
    -- without foreign keys, so no warning skips it)
    select
        'missing_key', 'paysplit', 'PatNum', splits.split_num, '{{ split_of_no_patient | replace("'", "''") }}'
    from {{ ref('stg_opendental__paysplit') }} as splits
    left join {{ ref('int_hidden_unearned_types') }} as hidden_unearned
        on splits.unearned_type = hidden_unearned.unearned_type_id
    where splits.pat_num is null
        and splits.split_amt <> 0
        and hidden_unearned.unearned_type_id is null
    union all
    -- a claimproc of a complete procedure or none that int_aging_transactions ages (Status 1, 4, 5, 7:
    -- -(InsPayAmt unless on a payment plan) - WriteOff) or whose estimate mart_ar_aging reads (NotReceived,
    -- and Received at earlier month ends: InsPayEst and WriteOff), unless the rule above lists it
    select
        'missing_key', 'claimproc', 'PatNum', claimprocs.claim_proc_num,
        '{{ aged_claimproc_of_no_patient | replace("'", "''") }}'
    from {{ ref('stg_opendental__claimproc') }} as claimprocs
    left join procedures
        on claimprocs.proc_num = procedures.proc_num
    where claimprocs.pat_num is null
        and (claimprocs.proc_num is null or procedures.proc_status_code = 2)
        and ((claimprocs.status_code in (1, 4, 5, 7)
              and (case when claimprocs.pay_plan_num is null then cast(claimprocs.ins_pay_amt as numeric(14, 2))
                        else 0 end
                   + cast(claimprocs.write_off as numeric(14, 2))) <> 0)
             or (claimprocs.status_code in (0, 1)
                 and (cast(claimprocs.ins_pay_est as numeric(14, 2)) <> 0
                      or cast(claimprocs.write_off as numeric(14, 2)) <> 0)))
        and not (claimprocs.status in (1, 4) and claimprocs.claim_payment_num is not null)
    union all
    select 'missing_key', table_name, column_name, key_num, handling
    from plan_keys
    union all
    select
        'missing_key', 'insplan', 'CarrierNum', plan_num,
        '{{ (plan_of_no_carrier ~ "its claims have no carrier (carrier_id NULL)") | replace("'", "''") }}'
    from {{ ref('stg_opendental__insplan') }}
    where carrier_num is null

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
    union all
    -- ProcStat 1-8 (OpenDentBusiness/Db/Enumerations.cs); production and AR count ProcStatus 2 (ProcStat.C)
    -- only, as OpenDental's Production and Income report (RpProdInc) and aging (Ledgers.GetTransQueryString) do
    select
        'unusual_status', 'procedurelog', 'ProcStatus', proc_num,
        'decoded as unknown: not production, not in AR (neither counts a status other than complete), '
            || 'in no treatment plan count'
    from procedures
    where proc_status is null
        and proc_status_code is not null
    union all
    select
        'unusual_status', 'patient', 'PatStatus', pat_num,
        'decoded as unknown in int_patients (patient_status_code keeps the stored code); '
            || 'no mart filters patients by status'
    from {{ ref('stg_opendental__patient') }}
    where pat_status is null
        and pat_status_code is not null

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
    union all select * from missing_keys
    union all select * from orphan_commlogs
    union all select * from duplicate_plans
    union all select * from unknown_statuses
    union all select * from commlog_codes
    union all select * from security_log_codes
    union all select * from time_card_codes
    union all select * from control_characters
    {{- orphan_reference_union(references) }}

)

select
    exception_kind,
    table_name,
    column_name,
    cast(key_num as bigint)                                         as key_num,
    handling
from unioned
