{#-
    Which payment plan rows OpenDental 24.3's aging reads under the practice's PayPlansVersion
    (int_practice_settings.pay_plans_version: 1 Do Not Age, 2 Age Credits and Debits, 3 Age Credits Only,
    4 No Charges to Account), and whose family it ages them in (OpenDentBusiness/Db Multi Table/Ledgers.cs,
    Ledgers.GetTransQueryString, regions "PayPlan Charges", "Payment Plans Versions 1 and 4", "PayPlan
    Version 2", "PayPlan Version 3" and "PayPlanLinks (Dynamic Payment Plan) for Versions 2 & 3"). One
    rule, read by int_aging_transactions (what the aging ages) and mart_data_exceptions (the rows of a key 0
    it would age in no family). Arguments are SQL expressions or table aliases of the staging models
    (stg_opendental__payplan, stg_opendental__payplancharge: keys 0 are NULL there).
-#}

{#- 'PPComplete': -payplan.CompletedAmt on the plan's PatNum, versions 1 and 4 (version 4: insurance plans
    only, "pp.PlanNum!=0") -#}
{% macro pay_plan_ages_completed(version, plan_num) -%}
    ({{ version }} = 1 or ({{ version }} = 4 and {{ plan_num }} is not null))
{%- endmacro %}

{#- 'PPCComplete': version 2 ages every payplancharge, version 3 its credits (ChargeType 1) only -#}
{% macro pay_plan_ages_charge(version, charge_type_code) -%}
    ({{ version }} = 2 or ({{ version }} = 3 and {{ charge_type_code }} = 1))
{%- endmacro %}

{#- The patient a 'PPCComplete' row is aged on: version 3 the charge's PatNum; version 2 a debit's
    (ChargeType 0) Guarantor, a credit's plan PatNum ("CASE WHEN ppc.ChargeType = Debit THEN ppc.Guarantor
    ELSE pp.PatNum END"). names=true: the OpenDental column that key is read from instead ('payplancharge.PatNum',
    'payplancharge.Guarantor', 'payplan.PatNum'). charges, plans: the aliases of the charge and its plan
    (LEFT JOINed). -#}
{% macro pay_plan_charge_patient(version, charges, plans, names=false) -%}
    case when {{ version }} = 3 then {{ "'payplancharge.PatNum'" if names else charges ~ '.pat_num' }}
         when {{ charges }}.charge_type_code = 0
             then {{ "'payplancharge.Guarantor'" if names else charges ~ '.guarantor' }}
         else {{ "'payplan.PatNum'" if names else plans ~ '.pat_num' }} end
{%- endmacro %}

{#- A 'PPCComplete' row's amount: a credit -Principal; a debit Principal + Interest on a patient plan
    ("WHEN pp.PlanNum=0"), 0 on an insurance plan and 0 when the plan row is gone (pp.PlanNum NULL under the
    LEFT JOIN: the CASE's ELSE) -#}
{% macro pay_plan_charge_amount(charges, plans) -%}
    case when {{ charges }}.charge_type_code <> 0 then -cast({{ charges }}.principal as numeric(14, 2))
         when {{ plans }}.pay_plan_num is not null and {{ plans }}.plan_num is null
             then cast({{ charges }}.principal as numeric(14, 2)) + cast({{ charges }}.interest as numeric(14, 2))
         else 0 end
{%- endmacro %}

{#- 'PPCharge' (PayPlanDue, every version): the debits (ChargeType 0) of Principal + Interest other than 0 of
    patient plans (pp.PlanNum=0), but those of closed plans under version 2 ("AND !pp.IsClosed"). charges,
    plans: the aliases of the charge and its plan (INNER JOINed: "INNER JOIN payplan pp") -#}
{% macro pay_plan_ages_debit_due(version, charges, plans) -%}
    ({{ charges }}.charge_type_code = 0
     and {{ charges }}.principal + {{ charges }}.interest <> 0
     and {{ plans }}.plan_num is null
     and not ({{ version }} = 2 and coalesce({{ plans }}.is_closed, false)))
{%- endmacro %}

{#- 'PayPlanLink': dynamic plans' links, versions 2 and 3, aged on the linked procedure's or adjustment's
    PatNum (the plan's PatNum is not read) -#}
{% macro pay_plan_ages_links(version) -%}
    {{ version }} in (2, 3)
{%- endmacro %}
