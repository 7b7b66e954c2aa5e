"""The marts equal the synthetic practice's books to the cent.

The generator's ground truth (its ledger, and the aging it stores on guarantor rows as OpenDental does)
is written into a real PostgreSQL `raw` schema; dbt builds the marts from it; every number must agree.
"""

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest

import dental_synthetic
from dbt_runner import DATA_ONLY, query_rows as rows, run_dbt
from dental_assets.warehouse import PgParams, mark_demo_target
from ledger_compare import expected_income, expected_production, mart_income, mart_production

AS_OF = dt.date(2026, 6, 30)
CENT = Decimal("0.01")


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


@pytest.fixture(scope="module")
def built(pg_module_url, tmp_path_factory):
    """A 1,000-patient practice in raw, and the marts built from it by dbt."""
    params = PgParams.from_url(pg_module_url)
    mark_demo_target(params)
    practice = dental_synthetic.generate(dental_synthetic.SyntheticConfig(patients=1000, seed=7, as_of=AS_OF))
    dental_synthetic.write_postgres_raw(practice, params)
    run_dbt(params, tmp_path_factory.mktemp("dbt_target"), "build", *DATA_ONLY, "--select", "+path:models/marts",
            settings={"as_of_date": AS_OF.isoformat()})
    return params, practice


AGING = [("balance_0_30", "Bal_0_30"), ("balance_31_60", "Bal_31_60"), ("balance_61_90", "Bal_61_90"),
         ("balance_over_90", "BalOver90"), ("total_balance", "BalTotal"), ("insurance_estimate", "InsEst")]


def test_ar_aging_equals_the_aging_stored_on_guarantors(built):
    params, _ = built
    stored = {
        row[0]: [money(v) for v in row[1:]]
        for row in rows(params, 'SELECT "PatNum", ' + ", ".join(f'"{od}"' for _, od in AGING)
                        + ' FROM raw.patient WHERE "PatNum" = "Guarantor"')
    }
    mart = {
        row[0]: [money(v) for v in row[1:]]
        for row in rows(params, "SELECT guarantor_id, " + ", ".join(m for m, _ in AGING)
                        + " FROM marts.mart_ar_aging WHERE is_run_date")
    }
    zeros = [money(0)] * len(AGING)
    assert set(mart) <= set(stored)
    mismatches = {g: (mart.get(g, zeros), stored[g]) for g in stored if mart.get(g, zeros) != stored[g]}
    assert not mismatches, dict(list(mismatches.items())[:5])
    assert sum(v[4] for v in stored.values()) > 0  # the practice has receivables to age


def test_ar_aging_equals_the_generator_ledger(built):
    params, practice = built
    ledger = practice.ledger["aging"].to_pylist()
    mart = {
        row[0]: [money(v) for v in row[1:]]
        for row in rows(params, "SELECT guarantor_id, " + ", ".join(m for m, _ in AGING)
                        + " FROM marts.mart_ar_aging WHERE is_run_date")
    }
    zeros = [money(0)] * len(AGING)
    for entry in ledger:
        expected = [money(entry[od]) for _, od in AGING]
        assert mart.get(entry["Guarantor"], zeros) == expected, entry["Guarantor"]


def test_ar_aging_has_every_month_end_and_sums_buckets(built):
    params, _ = built
    dates = [r[0] for r in rows(params, "SELECT DISTINCT as_of_date FROM marts.mart_ar_aging ORDER BY 1")]
    assert dates[-1] == AS_OF
    month_ends = dates[:-1]
    assert len(month_ends) >= 36
    for day in month_ends:
        assert (day + dt.timedelta(days=1)).day == 1
    broken = rows(params, """
        SELECT count(*) FROM marts.mart_ar_aging
        WHERE total_balance >= 0
          AND balance_0_30 + balance_31_60 + balance_61_90 + balance_over_90 <> total_balance""")
    assert broken[0][0] == 0


def test_collections_daily_equals_the_ledger(built):
    params, practice = built
    mart = mart_income(params)
    assert mart == expected_income(practice.ledger["daily"])
    assert sum(v[0] for v in mart.values()) > 0 and sum(v[1] for v in mart.values()) > 0
    # deposits on a type hidden from the account ("Do Not Show on Account") were paid, and are no income
    hidden = rows(params, """SELECT count(*) FROM raw.paysplit s JOIN raw.definition d
                             ON d."DefNum" = s."UnearnedType" AND d."Category" = 29 AND d."ItemValue" <> ''""")
    assert hidden[0][0] > 0
    # insurance payments entered but not on a check yet: in the aging (test_ar_aging_*), not yet income
    not_on_check = rows(params, """SELECT count(*), sum("InsPayAmt") FROM raw.claimproc
                                   WHERE "Status" = 1 AND "ClaimPaymentNum" = 0 AND "InsPayAmt" > 0""")[0]
    assert not_on_check[0] > 0 and not_on_check[1] > 0


def test_production_daily_equals_the_ledger(built):
    """Every day, clinic and provider: gross production, adjustments, insurance write-offs (by DateCP, the
    report's default), capitation write-offs (CapComplete, by the procedure's date) and the total
    production of OpenDental's Production and Income report, gross - capitation + adjustments - write-offs."""
    params, practice = built
    mart = mart_production(params)
    assert mart == expected_production(practice.ledger["daily"])
    totals = [sum(v[i] for v in mart.values()) for i in range(5)]
    assert totals[2] > 0 and totals[3] > 0  # PPO and capitation write-offs both present


def test_appointments_daily_counts_the_book(built):
    params, _ = built
    mart = rows(params, "SELECT sum(scheduled), sum(completed), sum(broken), sum(no_show), "
                        "sum(scheduled_minutes), sum(used_minutes) FROM marts.mart_appointments_daily")[0]
    raw = rows(params, """
        SELECT count(*) FILTER (WHERE "AptStatus" IN (1, 2, 5)),
               count(*) FILTER (WHERE "AptStatus" = 2),
               count(*) FILTER (WHERE "AptStatus" = 5),
               sum(5 * length("Pattern")) FILTER (WHERE "AptStatus" IN (1, 2, 5))
        FROM raw.appointment WHERE "AptDateTime" >= '1880-01-01'""")[0]
    assert mart[0] == raw[0] and mart[1] == raw[1] and mart[2] == raw[2] and mart[4] == raw[3]
    assert raw[1] > 0 and raw[2] > 0
    # no-shows: still Broken, with the Missed entry OpenDental writes when it breaks one with D9986 (late
    # cancellations carry Cancelled instead; both kinds are in the practice)
    missed, cancelled = rows(params, """
        SELECT count(*) FILTER (WHERE EXISTS (SELECT FROM raw.histappointment h
                                              WHERE h."AptNum" = a."AptNum" AND h."HistApptAction" = 2)),
               count(*) FILTER (WHERE EXISTS (SELECT FROM raw.histappointment h
                                              WHERE h."AptNum" = a."AptNum" AND h."HistApptAction" = 3))
        FROM raw.appointment a WHERE "AptStatus" = 5 AND "AptDateTime" >= '1880-01-01'""")[0]
    assert mart[3] == missed and 0 < missed < raw[2] and cancelled == raw[2] - missed
    assert 0 < mart[5] <= 24 * 60 * raw[1]


def test_treatment_acceptance_counts_what_was_presented_on_saved_plans(built):
    """As OpenDental's Treatment Plan Presentation Statistics report (first presentation): recounted here
    from the raw treatplan, proctp, procedurelog and appointment rows, per month of presentation and
    provider: procedures still planned or complete; scheduled = planned on a Scheduled appointment."""
    params, _ = built
    mart = {(r[0], r[1]): tuple(r[2:]) for r in rows(params, """
        SELECT month, provider_id, presented_count, scheduled_count, completed_count, accepted_count,
               count(*) FILTER (WHERE acceptance_rate < 0 OR acceptance_rate > 1) OVER ()
        FROM marts.mart_treatment_acceptance_monthly""")}
    raw = {(r[0], r[1]): tuple(r[2:]) for r in rows(params, """
        WITH first_presented AS (
            SELECT DISTINCT ON (tp."ProcNumOrig") tp."ProcNumOrig" AS proc_num, t."DateTP" AS presented
            FROM raw.proctp tp JOIN raw.treatplan t USING ("TreatPlanNum")
            WHERE t."TPStatus" = 0 AND t."DateTP" >= '1880-01-01' AND tp."ProcNumOrig" <> 0
            ORDER BY tp."ProcNumOrig", t."DateTP", t."TreatPlanNum")
        SELECT date_trunc('month', f.presented)::date, p."ProvNum", count(*),
               count(*) FILTER (WHERE p."ProcStatus" = 1 AND a."AptStatus" = 1),
               count(*) FILTER (WHERE p."ProcStatus" = 2),
               count(*) FILTER (WHERE p."ProcStatus" = 2 OR (p."ProcStatus" = 1 AND a."AptStatus" = 1)), 0
        FROM first_presented f JOIN raw.procedurelog p ON p."ProcNum" = f.proc_num
        LEFT JOIN raw.appointment a ON a."AptNum" = p."AptNum" AND p."AptNum" <> 0
        WHERE p."ProcStatus" IN (1, 2)
        GROUP BY 1, 2""")}
    assert mart == raw
    totals = [sum(v[i] for v in raw.values()) for i in range(3)]
    assert totals[0] > totals[1] + totals[2] and totals[1] > 0 and totals[2] > 0
    # work charted complete the day it was planned was never presented
    walk_ins = rows(params, """SELECT count(*) FROM raw.procedurelog p JOIN raw.proctp tp ON tp."ProcNumOrig" = p."ProcNum"
                               WHERE p."ProcStatus" = 2 AND p."DateTP" = p."ProcDate" """)[0][0]
    assert walk_ins == 0


def test_hygiene_retention_is_bounded(built):
    params, _ = built
    active, due, compliant, bad = rows(params, """
        SELECT sum(active_hygiene_patients), sum(recall_due), sum(recall_compliant),
               count(*) FILTER (WHERE recall_compliant > recall_due OR compliance_rate > 1)
        FROM marts.mart_hygiene_retention_monthly""")[0]
    assert active > 0 and due > 0 and 0 < compliant <= due and bad == 0


def test_claims_monthly_counts_every_claim_sent(built):
    params, _ = built
    sent, received, negative_days = rows(params, """
        SELECT sum(claims_sent), sum(claims_received),
               count(*) FILTER (WHERE days_to_payment_median < 0)
        FROM marts.mart_claims_monthly""")[0]
    raw_sent, raw_received = rows(params, """
        SELECT count(*), count(*) FILTER (WHERE "ClaimStatus" = 'R' AND "DateReceived" >= '1880-01-01')
        FROM raw.claim WHERE "ClaimType" IN ('P', 'S') AND "DateSent" >= '1880-01-01'
          AND "ClaimStatus" IN ('S', 'R', 'P')""")[0]  # RpClaimNotSent.cs: U, H, W, I are not sent
    assert sent == raw_sent > 0 and received == raw_received > 0 and negative_days == 0


def test_provider_production_ytd_ends_at_the_years_total(built):
    params, _ = built
    mismatched = rows(params, """
        WITH last_day AS (
            SELECT DISTINCT ON (provider_id, date_trunc('year', production_date))
                   provider_id, date_trunc('year', production_date) AS year, net_production_ytd
            FROM marts.mart_provider_production
            ORDER BY provider_id, date_trunc('year', production_date), production_date DESC),
        totals AS (
            SELECT provider_id, date_trunc('year', production_date) AS year, sum(net_production) AS total
            FROM marts.mart_production_daily GROUP BY 1, 2)
        SELECT count(*) FROM last_day JOIN totals USING (provider_id, year)
        WHERE last_day.net_production_ytd <> totals.total""")
    assert mismatched[0][0] == 0
    assert rows(params, "SELECT count(*) FROM marts.mart_provider_production")[0][0] > 0


def test_ar_summary_current_month_is_opendentals_ar_with_credits_apart(built):
    """The current month's AR is OpenDental's under its defaults, from the aging it stores on guarantors:
    the buckets summed (DashboardQueries.GetAR), which is the Aging of A/R report's BalTotal total over the
    families it lists (RpAging.GetQueryString: a bucket >= 0.005; negative balances only with IsIncludeNeg);
    the families in credit apart in credit_balance; insurance and patient responsibility over the listed
    families (the report's InsPayEst + InsWoEst and BalTotal - InsPayEst - InsWoEst columns)."""
    params, _ = built
    summary = rows(params, f"""SELECT total_balance, credit_balance, insurance_responsibility, patient_responsibility
                               FROM marts.mart_ar_summary_monthly WHERE month = '{AS_OF.replace(day=1)}'""")
    total, credit, insurance, patient = (money(v) for v in summary[0])
    stored = [[money(v) for v in row] for row in rows(
        params, 'SELECT "Bal_0_30", "Bal_31_60", "Bal_61_90", "BalOver90", "BalTotal", "InsEst" '
                'FROM raw.patient WHERE "PatNum" = "Guarantor"')]
    listed = [r for r in stored if any(bucket >= Decimal("0.005") for bucket in r[:4])]
    in_credit = [r for r in stored if r not in listed and r[4] <= Decimal("-0.005")]
    assert listed and in_credit
    assert total == sum(b for r in stored for b in r[:4]) == sum(r[4] for r in listed)
    assert credit == sum(r[4] for r in in_credit) < 0
    assert insurance == sum(r[5] for r in listed) and patient == sum(r[4] - r[5] for r in listed)
    assert insurance + patient == total
    # nothing is lost: every family's balance is in total_balance or in credit_balance
    assert total + credit == sum(r[4] for r in stored)


def test_patient_scores_match_an_independent_recount(built):
    params, _ = built
    recount = {
        pat: round(Decimal(100) * done / (done + broken), 1)
        for pat, done, broken in rows(params, f"""
            SELECT "PatNum", count(*) FILTER (WHERE "AptStatus" = 2), count(*) FILTER (WHERE "AptStatus" = 5)
            FROM raw.appointment
            WHERE "AptStatus" IN (2, 5) AND "AptDateTime"::date <= '{AS_OF}'
              AND "AptDateTime"::date > date '{AS_OF}' - interval '24 months'
            GROUP BY 1""")
    }
    scores = dict(rows(params, "SELECT patient_id, appointment_reliability FROM marts.mart_patient_scores "
                               "WHERE appointment_reliability IS NOT NULL"))
    assert len(scores) > 100
    assert {k: Decimal(v) for k, v in scores.items()} == {k: v.quantize(Decimal("0.1")) for k, v in recount.items()}
    filled = rows(params, "SELECT count(treatment_acceptance), count(payment_history), count(engagement), "
                          "count(overall_score) FROM marts.mart_patient_scores")[0]
    assert all(n > 100 for n in filled)


# ------------------------------------------------ the second pass of issue #3: secondary claims,
# supplementals, unearned money, income transfers, credit balances and refunds

def test_collections_daily_nets_income_transfers_to_zero(built):
    params, _ = built
    transfer_net = rows(params, """
        SELECT s."DatePay", s."ClinicNum", sum(s."SplitAmt"::numeric(14, 2)), count(*)
        FROM raw.paysplit s JOIN raw.payment p ON p."PayNum" = s."PayNum"
        WHERE p."PayType" = 0 GROUP BY 1, 2""")
    assert len(transfer_net) > 10 and sum(r[3] for r in transfer_net) >= 2 * len(transfer_net)
    assert all(money(r[2]) == 0 for r in transfer_net)  # each day's transfer pairs cancel out
    # the mart's patient payments are exactly the money that came in or went out (refunds), transfers aside
    expected = {
        (r[0], r[1]): money(r[2])
        for r in rows(params, """
            SELECT s."DatePay", s."ClinicNum", sum(s."SplitAmt"::numeric(14, 2))
            FROM raw.paysplit s JOIN raw.payment p ON p."PayNum" = s."PayNum"
            WHERE p."PayType" <> 0
              AND s."UnearnedType" NOT IN (  -- "Do Not Show on Account" types: not income in OpenDental
                  SELECT "DefNum" FROM raw.definition WHERE "Category" = 29 AND "ItemValue" <> '')
            GROUP BY 1, 2""")
    }
    mart = {(r[0], r[1]): money(r[2]) for r in rows(params, """
        SELECT collection_date, clinic_id, patient_payments FROM marts.mart_collections_daily""")}
    assert {k: v for k, v in mart.items() if v} == {k: v for k, v in expected.items() if v}
    refunds = rows(params, 'SELECT count(*), sum("PayAmt") FROM raw.payment WHERE "PayAmt" < 0')[0]
    assert refunds[0] > 0 and money(refunds[1]) < 0
    assert money(rows(params, "SELECT min(patient_payments) FROM marts.mart_collections_daily")[0][0]) < 0


def test_collections_daily_counts_supplementals_as_insurance(built):
    params, _ = built
    raw = {
        (r[0], r[1]): (money(r[2]), money(r[3]), r[4])
        for r in rows(params, """
            SELECT k."CheckDate", c."ClinicNum",
                   coalesce(sum(c."InsPayAmt"::numeric(14, 2)) FILTER (WHERE c."Status" = 1), 0),
                   coalesce(sum(c."InsPayAmt"::numeric(14, 2)) FILTER (WHERE c."Status" = 4), 0),
                   count(*)
            FROM raw.claimproc c JOIN raw.claimpayment k ON k."ClaimPaymentNum" = c."ClaimPaymentNum"
            WHERE c."Status" IN (1, 4) GROUP BY 1, 2""")
    }
    mart = {(r[0], r[1]): (money(r[2]), r[3]) for r in rows(params, """
        SELECT collection_date, clinic_id, insurance_payments, insurance_claimproc_count
        FROM marts.mart_collections_daily WHERE insurance_claimproc_count > 0""")}
    assert mart == {k: (received + supplemental, n) for k, (received, supplemental, n) in raw.items()}
    assert sum(v[1] for v in raw.values()) > 0  # supplementals were paid
    # on their own days: after the day their claim was received, so a day-level count sees them apart
    later = rows(params, """
        SELECT count(*) FROM raw.claimproc s JOIN raw.claimproc r
          ON r."ClaimNum" = s."ClaimNum" AND r."ProcNum" = s."ProcNum" AND r."Status" = 1
        WHERE s."Status" = 4 AND s."DateCP" > r."DateCP"
        """)[0][0]
    assert later > 0


def test_claims_monthly_counts_secondary_claims(built):
    params, _ = built
    mart = dict(rows(params, "SELECT month, sum(claims_sent) FROM marts.mart_claims_monthly GROUP BY 1"))
    raw = rows(params, """
        SELECT date_trunc('month', "DateSent")::date, count(*) FILTER (WHERE "ClaimType" = 'P'),
               count(*) FILTER (WHERE "ClaimType" = 'S')
        FROM raw.claim WHERE "DateSent" >= '1880-01-01' AND "ClaimStatus" IN ('S', 'R', 'P') GROUP BY 1""")
    assert {r[0]: r[1] + r[2] for r in raw} == mart
    assert sum(r[2] for r in raw) > 0
    # claims held until the primary is received, or waiting to be sent, carry the DateSent OpenDental
    # writes at creation, and were not sent: the mart leaves them out
    unsent = dict(rows(params, """SELECT "ClaimStatus", count(*) FROM raw.claim
                                  WHERE "ClaimStatus" IN ('H', 'W') AND "DateSent" >= '1880-01-01' GROUP BY 1"""))
    assert unsent.get("H", 0) > 0 and unsent.get("W", 0) > 0, unsent


def test_ar_aging_families_in_credit(built):
    params, practice = built
    credit = rows(params, """
        SELECT guarantor_id, total_balance, balance_0_30 + balance_31_60 + balance_61_90 + balance_over_90,
               patient_portion, insurance_estimate
        FROM marts.mart_ar_aging WHERE is_run_date AND total_balance < 0""")
    assert credit
    assert all(money(r[2]) == 0 and money(r[3]) == money(r[1]) - money(r[4]) for r in credit)
    ledger = {e["Guarantor"]: money(e["BalTotal"]) for e in practice.ledger["aging"].to_pylist()}
    assert {r[0]: money(r[1]) for r in credit} == {g: b for g, b in ledger.items() if b < 0}


# ------------------------------------------------ systems F (communications), G (chair utilization from
# operatory schedules), H (security log): the marts count exactly the generator's rows

import re  # noqa: E402

from dbt_runner import DBT_DIR  # noqa: E402
from dental_assets.catalog import opendental_enums  # noqa: E402

def _snake(name: str) -> str:
    """OpenDental's enum member name in the models' spelling: InPerson -> in_person."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _enum_names(enum: str) -> dict[int, str]:
    return {int(v["value"]): v["name"] for v in opendental_enums()[enum]["values"]}


def test_communications_monthly_equals_the_generator_commlog(built):
    params, practice = built
    commlog = practice.tables["commlog"].to_pydict()
    definitions = practice.tables["definition"].to_pydict()
    purpose = dict(zip(definitions["DefNum"], definitions["ItemName"]))
    mode = {code: _snake(name) for code, name in _enum_names("CommItemMode").items()}
    direction = {code: _snake(name) for code, name in _enum_names("CommSentOrReceived").items()}
    expected, reached = defaultdict(int), defaultdict(set)
    for when, ctype, code, way, pat in zip(commlog["CommDateTime"], commlog["CommType"], commlog["Mode_"],
                                           commlog["SentOrReceived"], commlog["PatNum"]):
        key = (when.date().replace(day=1), ctype, purpose[ctype], mode[code], direction[way])
        expected[key] += 1
        reached[key].add(pat)
    mart = {
        tuple(r[:5]): (r[5], r[6], r[7])
        for r in rows(params, "SELECT month, purpose_id, purpose, mode, direction, communication_count, "
                              "patients_reached, orphan_count FROM marts.mart_communications_monthly")
    }
    assert mart == {k: (n, len(reached[k]), 0) for k, n in expected.items()}
    assert len({k[3] for k in mart}) >= 3 and len({k[1] for k in mart}) >= 3  # several modes and purposes
    assert sum(v[0] for v in mart.values()) == len(commlog["CommlogNum"])


def test_chair_utilization_open_minutes_equal_the_schedule_rows(built):
    params, practice = built
    schedule = practice.tables["schedule"].to_pydict()
    sched = {num: (day, start, stop, kind) for num, day, start, stop, kind in zip(
        schedule["ScheduleNum"], schedule["SchedDate"], schedule["StartTime"], schedule["StopTime"],
        schedule["SchedType"])}
    scheduleop = practice.tables["scheduleop"].to_pydict()

    def minutes(clock: str) -> int:
        hours, mins, _ = clock.split(":")
        return 60 * int(hours) + int(mins)

    expected = defaultdict(int)
    for num, op in zip(scheduleop["ScheduleNum"], scheduleop["OperatoryNum"]):
        day, start, stop, kind = sched[num]
        assert kind == 1  # provider schedules
        expected[(day, op)] += minutes(stop) - minutes(start)  # the generator's rows never overlap
    assert len(scheduleop["ScheduleOpNum"]) == len(expected) == len(schedule["ScheduleNum"])  # one op per row
    mart = {(r[0], r[1]): r[2] for r in rows(params, """
        SELECT utilization_date, operatory_id, open_minutes FROM marts.mart_chair_utilization_daily
        WHERE open_minutes > 0""")}
    assert mart == expected
    # booked minutes per operatory and day: the appointments on the book there
    booked = {(r[0], r[1]): (r[2], r[3]) for r in rows(params, """
        SELECT "AptDateTime"::date, "Op", count(*), sum(5 * length("Pattern"))
        FROM raw.appointment WHERE "AptStatus" IN (1, 2, 5) AND "AptDateTime" >= '1880-01-01' GROUP BY 1, 2""")}
    mart = {(r[0], r[1]): (r[2], r[3]) for r in rows(params, """
        SELECT utilization_date, operatory_id, appointment_count, scheduled_minutes
        FROM marts.mart_chair_utilization_daily WHERE appointment_count > 0""")}
    assert mart == booked
    totals = rows(params, """
        SELECT (SELECT sum(scheduled_minutes) FROM marts.mart_chair_utilization_daily),
               (SELECT sum(scheduled_minutes) FROM marts.mart_appointments_daily),
               (SELECT sum(used_minutes) FROM marts.mart_chair_utilization_daily),
               (SELECT sum(used_minutes) FROM marts.mart_appointments_daily),
               (SELECT count(*) FILTER (WHERE scheduled_utilization IS DISTINCT FROM
                                        round(scheduled_minutes::numeric / nullif(open_minutes, 0), 4))
                FROM marts.mart_chair_utilization_daily),
               (SELECT max(scheduled_utilization) FROM marts.mart_chair_utilization_daily)""")[0]
    assert totals[0] == totals[1] > 0 and totals[2] == totals[3] > 0 and totals[4] == 0
    assert 0 < totals[5] <= 1  # the generator books no operatory beyond its open hours


def test_system_activity_daily_equals_the_generator_securitylog(built):
    params, practice = built
    log = practice.tables["securitylog"].to_pydict()
    names = _enum_names("EnumPermType")
    expected = defaultdict(int)
    for when, user, perm in zip(log["LogDateTime"], log["UserNum"], log["PermType"]):
        expected[(when.date(), user, names[perm])] += 1
    mart = {(r[0], r[1], r[2]): r[3] for r in rows(params, """
        SELECT activity_date, user_id, permission, event_count FROM marts.mart_system_activity_daily""")}
    assert mart == dict(expected)
    assert len({k[2] for k in mart}) >= 5
    # no log text reaches the intermediate or the mart
    text_columns = rows(params, """
        SELECT table_name, column_name FROM information_schema.columns
        WHERE table_schema IN ('intermediate', 'marts')
          AND table_name IN ('int_security_log_activity', 'mart_system_activity_daily')
          AND column_name IN ('log_text', 'comp_name')""")
    assert text_columns == []


def test_security_log_permission_names_are_opendentals():
    """The model's EnumPermType list (a Jinja list, position = code) is OpenDental 24.3's, name for name."""
    sql = (DBT_DIR / "models/intermediate/int_security_log_activity.sql").read_text()
    listed = re.search(r"{% set perm_type_names = \[(.*?)\] %}", sql, re.S).group(1)
    names = re.findall(r"'([^']*)'", listed)
    enum = _enum_names("EnumPermType")
    assert names == [enum[code] for code in range(len(enum))] and sorted(enum) == list(range(len(enum)))


# ------------------------------------------------ issue #5, systems B (insurance) and E (collections):
# the intermediate models against the generator's own tables

def _table(practice, name: str) -> list[dict]:
    return practice.tables[name].to_pylist()


def test_claims_paid_equal_their_received_claimprocs(built):
    params, practice = built
    expected = defaultdict(lambda: [money(0), money(0), 0])  # received, supplemental paid, supplementals
    for cp in _table(practice, "claimproc"):
        if cp["ClaimNum"] and cp["Status"] in (1, 4):
            entry = expected[cp["ClaimNum"]]
            entry[0 if cp["Status"] == 1 else 1] += money(cp["InsPayAmt"])
            entry[2] += cp["Status"] == 4
    claims = {c["ClaimNum"]: c for c in _table(practice, "claim")}
    model = {
        r[0]: r[1:]
        for r in rows(params, """SELECT claim_id, paid, received_paid, supplemental_paid, supplemental_count,
                                        claimproc_paid, paid_difference FROM intermediate.int_claims""")
    }
    assert set(model) == set(claims)
    for claim_id, (paid, received, supplemental, n_supp, claimproc_paid, difference) in model.items():
        want = expected.get(claim_id, [money(0), money(0), 0])
        assert [money(received), money(supplemental), n_supp] == want, claim_id
        assert money(paid) == money(claims[claim_id]["InsPayAmt"]) == want[0] + want[1], claim_id
        assert money(claimproc_paid) == want[0] + want[1] and money(difference) == 0, claim_id
    assert sum(v[1] for v in expected.values()) > 0  # supplementals were paid on some claims
    # fct_claim carries the same money (the claim's own totals)
    assert rows(params, """SELECT count(*) FROM marts.fct_claim f JOIN intermediate.int_claims c USING (claim_id)
                           WHERE f.ins_pay_amt <> c.paid OR f.ins_pay_est <> c.estimate
                              OR f.claim_fee <> c.billed_fee OR f.write_off <> c.write_off""")[0][0] == 0


def test_claims_tracking_days_and_denials(built):
    params, practice = built
    claims = {c["ClaimNum"]: c for c in _table(practice, "claim")}
    model = {r[0]: r[1:] for r in rows(params, """
        SELECT claim_id, claim_type_name, claim_status_name, days_to_send, days_to_payment, is_denied,
               is_zero_pay FROM intermediate.int_claims""")}
    real = lambda d: d if d and d.year >= 1880 else None  # noqa: E731  (OpenDental's sentinel -> None)
    for claim_id, (type_name, status_name, to_send, to_payment, denied, zero_pay) in model.items():
        c = claims[claim_id]
        assert type_name == {"P": "primary", "S": "secondary"}[c["ClaimType"]]
        assert status_name == {"R": "received", "S": "sent", "H": "hold_until_primary_received",
                               "W": "waiting_to_send"}[c["ClaimStatus"]]
        sent, received, service = real(c["DateSent"]), real(c["DateReceived"]), c["DateService"]
        was_sent = sent is not None and c["ClaimStatus"] in ("S", "R")  # H, W: DateSent is the creation day
        assert to_send == ((sent - service).days if was_sent else None), claim_id
        is_received = c["ClaimStatus"] == "R" and received is not None
        assert to_payment == ((received - sent).days if is_received else None), claim_id
        assert zero_pay == (is_received and money(c["InsPayAmt"]) == 0), claim_id
        # the generator records a denial in ReasonUnderPaid; the model finds it from the money alone
        assert denied == (is_received and c["ReasonUnderPaid"].startswith("Denied")
                          and money(c["InsPayEst"]) > 0), claim_id
    assert sum(1 for v in model.values() if v[4]) > 10 and any(v[3] is None for v in model.values())


def test_claim_payments_equal_their_claimprocs(built):
    params, practice = built
    paid = defaultdict(lambda: money(0))
    for cp in _table(practice, "claimproc"):
        if cp["ClaimPaymentNum"]:
            paid[cp["ClaimPaymentNum"]] += money(cp["InsPayAmt"])
    checks = {c["ClaimPaymentNum"]: c for c in _table(practice, "claimpayment")}
    carriers = {c["CarrierNum"]: c["CarrierName"] for c in _table(practice, "carrier")}
    model = {r[0]: r[1:] for r in rows(params, """
        SELECT claim_payment_id, check_amount, claimproc_paid, unallocated_amount, carrier_id, check_date
        FROM intermediate.int_claim_payments""")}
    assert set(model) == set(checks) and len(model) > 100
    for num, (amount, claimproc_paid, unallocated, carrier_id, check_date) in model.items():
        assert money(amount) == money(checks[num]["CheckAmt"]) == paid[num], num
        assert money(claimproc_paid) == paid[num] and money(unallocated) == 0, num
        assert carriers[carrier_id] == checks[num]["CarrierName"] and check_date == checks[num]["CheckDate"]
    # every claimproc paid by a check carries that check's date
    assert rows(params, """SELECT count(*) FROM intermediate.int_claim_procedures p
                           JOIN intermediate.int_claim_payments c USING (claim_payment_id)
                           WHERE p.check_date IS DISTINCT FROM c.check_date""")[0][0] == 0


def test_payment_plans_equal_the_generator_debits_and_splits(built):
    params, practice = built
    principal, due, paid = defaultdict(lambda: money(0)), defaultdict(lambda: money(0)), defaultdict(lambda: money(0))
    credits, in_advance = defaultdict(lambda: money(0)), defaultdict(lambda: money(0))
    bill_in_advance = dt.timedelta(days=practice.config.pay_plans_bill_in_advance_days)
    for ch in _table(practice, "payplancharge"):
        if ch["ChargeType"] == 1:  # the plan's credit: the procedure's amount put on the plan
            credits[ch["PayPlanNum"]] += money(ch["Principal"])
            continue
        assert ch["ChargeType"] == 0
        principal[ch["PayPlanNum"]] += money(ch["Principal"])
        if ch["ChargeDate"] <= AS_OF:
            due[ch["PayPlanNum"]] += money(ch["Principal"]) + money(ch["Interest"])
        elif ch["ChargeDate"] <= AS_OF + bill_in_advance:
            in_advance[ch["PayPlanNum"]] += money(ch["Principal"]) + money(ch["Interest"])
    plans = {p["PayPlanNum"]: p for p in _table(practice, "payplan")}
    dynamic = {num for num, p in plans.items() if p["IsDynamic"]}
    assert dynamic and dynamic != set(plans)
    # a static plan: one credit, of the amount its debits add up to; a dynamic plan: no credit, and only
    # the debits due by the as-of date (OpenDental's service issues each on its date)
    assert credits == {num: v for num, v in principal.items() if num not in dynamic}
    assert all(ch["ChargeDate"] <= AS_OF for ch in _table(practice, "payplancharge") if ch["PayPlanNum"] in dynamic)
    # paid as OpenDental's Payment Plans report takes it (RpPayPlan.GetPayPlanTable): a patient plan's
    # paysplits, an insurance plan's (PlanNum <> 0) claimprocs Received, Supplemental or CapClaim. The
    # generator makes no insurance plans: the hand-made dbt unit tests (_money__unit_tests.yml) cover them
    insurance = {num for num, p in plans.items() if p["PlanNum"]}
    for split in _table(practice, "paysplit"):
        if split["PayPlanNum"] and split["PayPlanNum"] not in insurance:
            paid[split["PayPlanNum"]] += money(split["SplitAmt"])
    for cp in _table(practice, "claimproc"):
        if cp["PayPlanNum"] in insurance and cp["Status"] in (1, 4, 5):
            paid[cp["PayPlanNum"]] += money(cp["InsPayAmt"])
    model = {r[0]: r[1:] for r in rows(params, """
        SELECT payment_plan_id, principal_charged, due_to_date, paid_to_date, balance, amount_past_due,
               is_closed, guarantor_id, is_insurance_plan FROM intermediate.int_payment_plans""")}
    assert set(model) == set(plans) and len(model) > 3
    assert {num for num, r in model.items() if r[-1]} == insurance
    due_by_family = defaultdict(lambda: money(0))
    for num, (prin, due_now, paid_now, balance, past_due, closed, family, _) in model.items():
        assert [money(prin), money(due_now), money(paid_now)] == [principal[num], due[num], paid[num]], num
        assert money(balance) == principal[num] - paid[num] and money(past_due) == due[num] - paid[num]
        assert closed == bool(plans[num]["IsClosed"]), num
        if num in dynamic:  # the debits issued so far: all of the plan's once it is paid off
            assert principal[num] <= money(plans[num]["CompletedAmt"]), num
            assert closed <= (principal[num] == money(plans[num]["CompletedAmt"]) and money(balance) == 0), num
        else:
            assert closed == (money(balance) == 0), num
        # PayPlansVersion 2 leaves closed plans out of PayPlanDue, and every version insurance plans
        # (Ledgers.GetTransQueryString, PayPlan Charges: "AND pp.PlanNum=0")
        if not closed and num not in insurance:
            due_by_family[family] += money(past_due) + in_advance[num]
    # amount_past_due is not OpenDental's PayPlanDue: summed per family over the open patient plans, with
    # the debits billed in advance (PayPlansBillInAdvanceDays) added, it is, as the generator stores it and
    # as mart_ar_aging has it
    stored = {e["Guarantor"]: money(e["PayPlanDue"]) for e in practice.ledger["aging"].to_pylist()}
    mart = {r[0]: money(r[1]) for r in rows(params, "SELECT guarantor_id, pay_plan_due FROM marts.mart_ar_aging "
                                                    "WHERE is_run_date")}
    assert {g: v for g, v in stored.items() if v} == {g: v for g, v in due_by_family.items() if v}
    assert {g: v for g, v in mart.items() if v} == {g: v for g, v in stored.items() if v}
    assert any(stored.values())
    # a dynamic plan's link: the aging credits what its procedure still owes (OpenDental's rule, computed
    # by the model from the procedure, its adjustments, insurance and splits), which is the amount the
    # generator put on the plan
    links = {r[0]: money(r[1]) for r in rows(params, """
        SELECT l.pay_plan_num, -t.amount FROM intermediate.int_aging_transactions t
        JOIN staging.stg_opendental__payplanlink l ON l.pay_plan_link_num = t.source_id
        WHERE t.transaction_type = 'plan_link'""")}
    assert links == {num: money(plans[num]["CompletedAmt"]) for num in dynamic}


def test_statements_and_collections_after_them_equal_the_generator(built):
    import bisect

    params, practice = built
    family = {p["PatNum"]: p["Guarantor"] for p in _table(practice, "patient")}
    statements = _table(practice, "statement")
    per_month = defaultdict(lambda: [0, money(0)])
    sent_by_family = defaultdict(list)
    for s in statements:
        per_month[s["DateSent"].replace(day=1)][0] += 1
        per_month[s["DateSent"].replace(day=1)][1] += money(s["BalTotal"])
        sent_by_family[family[s["PatNum"]]].append((s["DateSent"], s["StatementNum"]))
    # an independent recount: each split to its family's latest statement on or before it, within 30 days
    collected = defaultdict(lambda: money(0))
    for family_sent in sent_by_family.values():
        family_sent.sort()
    for split in _table(practice, "paysplit"):
        sent = sent_by_family.get(family[split["PatNum"]], [])
        i = bisect.bisect_right(sent, (split["DatePay"], float("inf"))) - 1
        if i >= 0 and (split["DatePay"] - sent[i][0]).days <= 30:
            collected[sent[i][1]] += money(split["SplitAmt"])
    model = {r[0]: r[1:] for r in rows(params, """
        SELECT statement_id, guarantor_id, balance_stated, collected_within_30_days, is_billing_statement
        FROM intermediate.int_statements""")}
    assert len(model) == len(statements) > 1000
    for s in statements:
        guarantor, balance, within_30, billing = model[s["StatementNum"]]
        assert guarantor == family[s["PatNum"]] and billing and money(balance) == money(s["BalTotal"])
        assert money(within_30) == collected[s["StatementNum"]], s["StatementNum"]
    assert sum(collected.values()) > 0
    # the monthly mart: statements sent and balances stated per month are the generator's rows
    mart = {r[0]: [r[1], money(r[2]), money(r[3])] for r in rows(params, """
        SELECT month, sum(statements_sent), sum(balance_stated), sum(collected_within_30_days)
        FROM marts.mart_collection_activity_monthly GROUP BY 1 HAVING sum(statements_sent) > 0""")}
    by_month = defaultdict(lambda: money(0))
    for s in statements:
        by_month[s["DateSent"].replace(day=1)] += collected[s["StatementNum"]]
    assert mart == {m: [n, bal, by_month[m]] for m, (n, bal) in per_month.items()}


def test_collection_activity_counts_plans_and_financial_calls(built):
    params, practice = built
    financial = {d["DefNum"] for d in _table(practice, "definition")
                 if d["Category"] == 27 and d["ItemValue"] == "FIN"}
    patients = {p["PatNum"] for p in _table(practice, "patient")}
    calls = defaultdict(int)
    for c in _table(practice, "commlog"):
        if c["CommType"] in financial and c["PatNum"] in patients:
            calls[c["CommDateTime"].date().replace(day=1)] += 1
    # patient plans (PlanNum 0) in payment_plan_due / _paid; insurance plans apart, paid by claimprocs on
    # the plan (the generator makes none: _money__unit_tests.yml has them)
    insurance = {p["PayPlanNum"] for p in _table(practice, "payplan") if p["PlanNum"]}
    due, paid = defaultdict(lambda: money(0)), defaultdict(lambda: money(0))
    ins_due, ins_paid = defaultdict(lambda: money(0)), defaultdict(lambda: money(0))
    for ch in _table(practice, "payplancharge"):
        if ch["ChargeType"] == 0 and ch["ChargeDate"] <= AS_OF:
            (ins_due if ch["PayPlanNum"] in insurance else due)[ch["ChargeDate"].replace(day=1)] += (
                money(ch["Principal"]) + money(ch["Interest"]))
    for split in _table(practice, "paysplit"):
        if split["PayPlanNum"] and split["PayPlanNum"] not in insurance and split["DatePay"] <= AS_OF:
            paid[split["DatePay"].replace(day=1)] += money(split["SplitAmt"])
    for cp in _table(practice, "claimproc"):
        if cp["PayPlanNum"] in insurance and cp["Status"] in (1, 4, 5) and cp["DateCP"] <= AS_OF:
            ins_paid[cp["DateCP"].replace(day=1)] += money(cp["InsPayAmt"])
    mart = rows(params, """
        SELECT month, sum(financial_contacts), sum(collection_calls), sum(payment_plan_due),
               sum(payment_plan_paid), sum(insurance_plan_due), sum(insurance_plan_paid)
        FROM marts.mart_collection_activity_monthly GROUP BY 1""")
    assert {r[0]: r[1] for r in mart if r[1]} == dict(calls) and sum(calls.values()) > 0
    assert {r[0]: r[2] for r in mart if r[2]} == dict(calls)  # the generator's balance calls are by phone
    assert {r[0]: money(r[3]) for r in mart if r[3]} == {m: v for m, v in due.items() if v}
    assert {r[0]: money(r[4]) for r in mart if r[4]} == {m: v for m, v in paid.items() if v}
    assert {r[0]: money(r[5]) for r in mart if r[5]} == {m: v for m, v in ins_due.items() if v}
    assert {r[0]: money(r[6]) for r in mart if r[6]} == {m: v for m, v in ins_paid.items() if v}
    assert sum(due.values()) > 0 and sum(paid.values()) > 0
