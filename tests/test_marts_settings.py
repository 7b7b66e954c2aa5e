"""The aging and production marts under the practice's own settings, not only OpenDental's defaults
(issue 12).

For each combination of settings below, a 600-patient practice is generated with those settings written
to its ``preference`` table (as OpenDental stores them), loaded into a real PostgreSQL ``raw``, and
``+mart_ar_aging +mart_production_daily`` is built by dbt. mart_production_daily's write-offs follow the
write-off date setting (test_production_write_offs_follow_the_write_off_date_setting). ``mart_ar_aging`` must equal, for every family, at the as-of date and
at every month end (historic aging), the generator's aging routine (``dental_synthetic.ledger.family_aging``:
OpenDental 24.3's rules, itself checked against the expected buckets of OpenDental's own LedgersTests
cases in tests/test_opendental_aging_ledger.py) over the same tables: the four buckets, total, insurance
estimate and PayPlanDue, to the cent.

Each combination must also move the aging of some family away from what OpenDental's defaults give on the
same tables, so a mart that ignored the setting would fail. The payment-plan settings change only the aging of
a family with a plan still running at the as-of date, which the generator may or may not draw (at 600
patients, seed 11 it drew 5 plans, one running, until its calibration to a real practice's chair use; since,
2 plans, none running), so the fixture plants two (``plant_running_plans``).
"""

import dataclasses
import datetime as dt

import pyarrow as pa
import pytest

import dental_synthetic
from dbt_runner import DATA_ONLY, run_dbt, query_rows as rows
from dental_assets.warehouse import PgParams, mark_demo_target
from dental_synthetic.ledger import daily_ledger, proc_charge
from dental_synthetic.practice import enum_codes
from ledger_compare import diff as _diff, expected_aging, guarantors, mart_aging as mart, money, month_end_agings

AS_OF = dt.date(2026, 6, 30)
SETTINGS = {
    # AgingProcLifo off (stored 2); payment plans not aged (PayPlansVersion 1); write-offs by procedure date
    "lifo_off_plans_v1_wo_proc_date": {"aging_proc_lifo": 2, "pay_plans_version": 1, "ppo_writeoff_date": 1},
    # AgingProcLifo on (stored 1); no plan charges on the account (4); nothing billed in advance
    "lifo_on_plans_v4_no_advance": {"aging_proc_lifo": 1, "pay_plans_version": 4,
                                    "pay_plans_bill_in_advance_days": 0},
    # credits only (3), a month billed in advance; write-offs by initial claim date (claim snapshots)
    "plans_v3_advance_30_wo_claim_date": {"pay_plans_version": 3, "pay_plans_bill_in_advance_days": 30,
                                          "ppo_writeoff_date": 2},
}
# the preferences these settings are stored in (unset = OpenDental 24.3's default)
AGING_PREFS = {"AgingProcLifo", "PayPlansVersion", "PayPlansBillInAdvanceDays"}


# The planted plans' debits: PLANTED_INSTALLMENTS monthly installments, none paid, the third due this many
# days after the as-of date (one plan each): 5, within the default PayPlansBillInAdvanceDays (10) but not
# within 0; 20, beyond 10 but within 30
PLANTED_DUE_AFTER_AS_OF = (5, 20)
PLANTED_INSTALLMENTS = 4


def plus_months(day: dt.date, months: int) -> dt.date:
    """The same day of the month ``months`` later, clamped to the month's end (as OpenDental's AddMonths)."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    following = dt.date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    return dt.date(year, month + 1, min(day.day, (following - dt.timedelta(days=1)).day))


def with_rows(table: pa.Table, new: list[dict]) -> pa.Table:
    """``table`` with ``new`` rows appended: the columns given, every other one OpenDental's default (0,
    "", 0001-01-01)."""
    def default(kind: pa.DataType):
        if pa.types.is_date(kind) or pa.types.is_timestamp(kind):
            return dt.datetime(1, 1, 1) if pa.types.is_timestamp(kind) else dt.date(1, 1, 1)
        return "" if pa.types.is_string(kind) else 0
    rows = [{f.name: row.get(f.name, default(f.type)) for f in table.schema} for row in new]
    return pa.concat_tables([table, pa.Table.from_pylist(rows, schema=table.schema)])


def plant_running_plans(practice: dental_synthetic.Practice) -> tuple[dental_synthetic.Practice, list[int]]:
    """The practice with two patient payment plans running at the as-of date, as the generator writes a
    static one (``billing._put_plan_charges``): each finances a completed procedure nobody has paid or billed
    (no claimproc, paysplit or adjustment on it; the largest charge, in two families without a plan) in
    PLANTED_INSTALLMENTS monthly debits from a month after the plan's date, with the plan's credit attached
    to the procedure on that date; none paid. Two debits are past due at the as-of date and two are not, so
    every PayPlansVersion ages the family differently (2: credit and debits due; 3: the credit only; 1 and 4:
    -CompletedAmt or nothing); the third falls due PLANTED_DUE_AFTER_AS_OF days after the as-of date, so
    PayPlanDue tells 0, 10 and 30 days billed in advance apart. Returns the practice and the two families'
    guarantors."""
    t = practice.tables
    pl, plans, charges = t["procedurelog"], t["payplan"], t["payplancharge"]
    guarantor = dict(zip(t["patient"].column("PatNum").to_pylist(), t["patient"].column("Guarantor").to_pylist()))
    touched = {*t["claimproc"].column("ProcNum").to_pylist(), *t["paysplit"].column("ProcNum").to_pylist(),
               *t["adjustment"].column("ProcNum").to_pylist()}
    first_plan_date = plus_months(AS_OF + dt.timedelta(days=min(PLANTED_DUE_AFTER_AS_OF)), -3)
    candidates = sorted(((-charge, proc, pat, date, prov, clinic) for proc, pat, date, status, prov, clinic, charge
                         in zip(*(pl.column(c).to_pylist() for c in ("ProcNum", "PatNum", "ProcDate", "ProcStatus",
                                                                     "ProvNum", "ClinicNum")),
                                proc_charge(pl).tolist())
                         if status == 2 and charge > 0 and proc not in touched and date < first_plan_date))
    families = set(plans.column("Guarantor").to_pylist())
    chosen = []
    for candidate in candidates:
        if guarantor[candidate[2]] not in families:
            families.add(guarantor[candidate[2]])
            chosen.append(candidate)
        if len(chosen) == len(PLANTED_DUE_AFTER_AS_OF):
            break
    assert len(chosen) == len(PLANTED_DUE_AFTER_AS_OF)
    charge_type, schedule = enum_codes("PayPlanChargeType"), enum_codes("PaymentSchedule")
    plan_num = max(plans.column("PayPlanNum").to_pylist(), default=0)
    charge_num = max(charges.column("PayPlanChargeNum").to_pylist(), default=0)
    new_plans, new_charges = [], []
    for after, (minus_charge, proc, pat, _, prov, clinic) in zip(PLANTED_DUE_AFTER_AS_OF, chosen):
        plan_num += 1
        principal = -minus_charge  # cents
        per = -(-principal // PLANTED_INSTALLMENTS)
        due = [plus_months(AS_OF + dt.timedelta(days=after), k - 2) for k in range(PLANTED_INSTALLMENTS)]
        assert due[1] <= AS_OF < due[2] == AS_OF + dt.timedelta(days=after)
        date = plus_months(due[0], -1)
        entered = dt.datetime.combine(date, dt.time(12))
        new_plans.append({"PayPlanNum": plan_num, "PatNum": pat, "Guarantor": guarantor[pat], "PayPlanDate": date,
                          "CompletedAmt": principal / 100, "PaySchedule": schedule["Monthly"],
                          "NumberOfPayments": PLANTED_INSTALLMENTS, "PayAmt": per / 100,
                          "ChargeFrequency": enum_codes("PayPlanFrequency")["Monthly"], "DatePayPlanStart": due[0]})
        amounts = [per] * (PLANTED_INSTALLMENTS - 1) + [principal - per * (PLANTED_INSTALLMENTS - 1)]
        common = {"PayPlanNum": plan_num, "Guarantor": guarantor[pat], "PatNum": pat, "ProvNum": prov,
                  "ClinicNum": clinic, "ProcNum": proc, "SecDateTEntry": entered, "SecDateTEdit": entered}
        for day, amount in zip(due, amounts):
            charge_num += 1
            new_charges.append({**common, "PayPlanChargeNum": charge_num, "ChargeDate": day,
                                "Principal": amount / 100, "ChargeType": charge_type["Debit"]})
        charge_num += 1
        new_charges.append({**common, "PayPlanChargeNum": charge_num, "ChargeDate": date,
                            "Principal": principal / 100, "ChargeType": charge_type["Credit"]})
    tables = {**t, "payplan": with_rows(plans, new_plans), "payplancharge": with_rows(charges, new_charges)}
    return dataclasses.replace(practice, tables=tables), [guarantor[c[2]] for c in chosen]


@pytest.fixture(scope="module", params=sorted(SETTINGS))
def built(request, pg_module_url, tmp_path_factory):
    """A practice under one combination of settings, with two plans planted (``plant_running_plans``), in
    raw, and ``+mart_ar_aging +mart_production_daily`` built from it. Returns the warehouse, the practice
    and the planted families' guarantors."""
    params = PgParams.from_url(pg_module_url)
    mark_demo_target(params)
    config = dental_synthetic.SyntheticConfig(patients=600, seed=11, as_of=AS_OF, **SETTINGS[request.param])
    practice, planted = plant_running_plans(dental_synthetic.generate(config))
    dental_synthetic.write_postgres_raw(practice, params)
    # cautious: the tests of the selected models whose every parent is built here (a foreign key from a
    # model outside the selection to a staging view inside it would find its own table missing)
    run_dbt(params, tmp_path_factory.mktemp("dbt_target"), "build", *DATA_ONLY, "--select", "+mart_ar_aging",
            "+mart_production_daily",
            "--indirect-selection", "cautious", settings={"as_of_date": AS_OF.isoformat()})
    return params, practice, planted


def expected(tables, practice, day: dt.date) -> dict:
    """Per guarantor: the seven aging amounts by family_aging at ``day`` (historic before AS_OF)."""
    return expected_aging(tables, guarantors(practice), day, AS_OF)


def test_the_settings_are_read_from_the_preference_table(built):
    params, practice, _ = built
    (lifo, version, advance), = rows(params, "SELECT aging_proc_lifo, pay_plans_version, "
                                             "bill_in_advance_days FROM intermediate.int_practice_settings")
    config = practice.config
    assert (lifo, version, advance) == (config.aging_proc_lifo != 2, config.pay_plans_version,
                                        config.pay_plans_bill_in_advance_days)


def test_aging_at_the_as_of_date_follows_the_settings(built):
    params, practice, planted = built
    want = expected(practice.tables, practice, AS_OF)
    assert want and not _diff(mart(params, AS_OF), want)
    # the setting matters on these books: OpenDental's defaults give another aging for some family, the
    # planted plans' families among them
    prefs = practice.tables["preference"]
    keep = pa.array([name not in AGING_PREFS for name in prefs.column("PrefName").to_pylist()])
    defaults = {**practice.tables, "preference": prefs.filter(keep)}
    assert set(planted) <= set(_diff(expected(defaults, practice, AS_OF), want))


def test_aging_at_every_month_end_follows_the_settings(built):
    """Every family at every month end. mart_ar_aging lists a family from the month of its first dated
    transaction on (its documented row set); before that, OpenDental's historic aging can still give
    the family a PayPlanDue (historic mode counts plan debits due by the run date, docs/opendental_aging.md
    section 6), but nothing else: those families, and no others, are the ones the mart does not list."""
    params, practice, _ = built
    days, mismatches = [], {}
    for day, got, want, unlisted in month_end_agings(params, practice.tables, guarantors(practice), AS_OF):
        days.append(day)
        for g, values in unlisted.items():
            assert not any(values[:6]), (day, g)  # before its first transaction: PayPlanDue only
        diff = _diff(got, want)
        if diff:
            mismatches[day] = {g: (a and [str(x) for x in a], b and [str(x) for x in b])
                               for g, (a, b) in list(diff.items())[:3]}
    assert len(days) >= 36 and days[-1] == AS_OF.replace(day=1) - dt.timedelta(days=1)
    assert not mismatches, dict(list(mismatches.items())[:3])


def test_production_write_offs_follow_the_write_off_date_setting(built):
    """mart_production_daily's insurance write-offs and total production per day, clinic and provider equal
    the generator's daily ledger (``dental_synthetic.ledger.daily_ledger``: the Production and Income
    report's rules for ReportsPPOwriteoffDefaultToProcDate 0, 1 and 2, the last from claimsnapshot rows).
    A setting other than the default moves some day's write-offs away from what the default gives."""
    params, practice, _ = built
    want = {}
    for entry in practice.ledger["daily"].to_pylist():
        values = [money(entry["WriteOffs"]), money(entry["Production"]) - money(entry["CapitationWriteOffs"])
                  + money(entry["Adjustments"]) - money(entry["WriteOffs"])]
        if any(values):
            want[(entry["Date"], entry["ClinicNum"], entry["ProvNum"])] = values
    got = {(r[0], r[1], r[2]): [money(r[3]), money(r[4])]
           for r in rows(params, "SELECT production_date, clinic_id, provider_id, writeoffs, net_production "
                                 "FROM marts.mart_production_daily")
           if money(r[3]) or money(r[4])}
    assert not _diff(got, want), list(_diff(got, want).items())[:3]
    mode = practice.config.ppo_writeoff_date
    assert (practice.tables["claimsnapshot"].num_rows > 0) == (mode == 2)
    if mode:
        prefs = practice.tables["preference"]
        keep = pa.array([n != "ReportsPPOwriteoffDefaultToProcDate" for n in prefs.column("PrefName").to_pylist()])
        default = daily_ledger({**practice.tables, "preference": prefs.filter(keep)})
        by_default = {(e["Date"], e["ClinicNum"], e["ProvNum"]): money(e["WriteOffs"]) for e in default.to_pylist()}
        assert any(by_default.get(k, money(0)) != v[0] for k, v in want.items())


def test_each_combination_differs_from_the_defaults():
    """The combinations above are not OpenDental's defaults (so each one tests a setting)."""
    defaults = dental_synthetic.SyntheticConfig(as_of=AS_OF)
    for name, values in SETTINGS.items():
        changed = dataclasses.replace(defaults, **values)
        assert changed.preference_rows() != defaults.preference_rows(), name
