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
same tables, so a mart that ignored the setting would fail.
"""

import dataclasses
import datetime as dt

import pyarrow as pa
import pytest

import dental_synthetic
from dbt_runner import run_dbt, query_rows as rows
from dental_assets.warehouse import PgParams, mark_demo_target
from dental_synthetic.ledger import daily_ledger
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


@pytest.fixture(scope="module", params=sorted(SETTINGS))
def built(request, pg_module_url, tmp_path_factory):
    """A practice under one combination of settings in raw, and ``+mart_ar_aging`` built from it."""
    params = PgParams.from_url(pg_module_url)
    mark_demo_target(params)
    config = dental_synthetic.SyntheticConfig(patients=600, seed=11, as_of=AS_OF, **SETTINGS[request.param])
    practice = dental_synthetic.generate(config)
    dental_synthetic.write_postgres_raw(practice, params)
    # cautious: the tests of the selected models whose every parent is built here (a foreign key from a
    # model outside the selection to a staging view inside it would find its own table missing)
    run_dbt(params, tmp_path_factory.mktemp("dbt_target"), "build", "--select", "+mart_ar_aging",
            "+mart_production_daily",
            "--indirect-selection", "cautious", settings={"as_of_date": AS_OF.isoformat()})
    return params, practice


def expected(tables, practice, day: dt.date) -> dict:
    """Per guarantor: the seven aging amounts by family_aging at ``day`` (historic before AS_OF)."""
    return expected_aging(tables, guarantors(practice), day, AS_OF)


def test_the_settings_are_read_from_the_preference_table(built):
    params, practice = built
    (lifo, version, advance), = rows(params, "SELECT aging_proc_lifo, pay_plans_version, "
                                             "bill_in_advance_days FROM intermediate.int_practice_settings")
    config = practice.config
    assert (lifo, version, advance) == (config.aging_proc_lifo != 2, config.pay_plans_version,
                                        config.pay_plans_bill_in_advance_days)


def test_aging_at_the_as_of_date_follows_the_settings(built):
    params, practice = built
    want = expected(practice.tables, practice, AS_OF)
    assert want and not _diff(mart(params, AS_OF), want)
    # the setting matters on these books: OpenDental's defaults give another aging for some family
    prefs = practice.tables["preference"]
    keep = pa.array([name not in AGING_PREFS for name in prefs.column("PrefName").to_pylist()])
    defaults = {**practice.tables, "preference": prefs.filter(keep)}
    assert _diff(expected(defaults, practice, AS_OF), want)


def test_aging_at_every_month_end_follows_the_settings(built):
    """Every family at every month end. mart_ar_aging lists a family from the month of its first dated
    transaction on (its documented row set); before that, OpenDental's historic aging can still give
    the family a PayPlanDue (historic mode counts plan debits due by the run date, docs/opendental_aging.md
    section 6), but nothing else: those families, and no others, are the ones the mart does not list."""
    params, practice = built
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
    params, practice = built
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
