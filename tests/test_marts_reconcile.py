"""The marts equal the synthetic practice's books to the cent.

The generator's ground truth (its ledger, and the aging it stores on guarantor rows as OpenDental does)
is written into a real PostgreSQL `raw` schema; dbt builds the marts from it; every number must agree.
"""

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest

import dental_synthetic
from dbt_runner import run_dbt, query_rows as rows
from dental_assets.warehouse import PgParams, mark_demo_target

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
    run_dbt(params, tmp_path_factory.mktemp("dbt_target"), "build", "--select", "+path:models/marts",
            "--vars", f"{{as_of_date: '{AS_OF.isoformat()}'}}")
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
    expected = defaultdict(lambda: [money(0), money(0)])
    for entry in practice.ledger["daily"].to_pylist():
        key = (entry["Date"], entry["ClinicNum"])
        expected[key][0] += money(entry["PatientIncome"])
        expected[key][1] += money(entry["InsuranceIncome"])
    expected = {k: v for k, v in expected.items() if v != [money(0), money(0)]}
    mart = {
        (r[0], r[1]): [money(r[2]), money(r[3])]
        for r in rows(params, "SELECT collection_date, clinic_id, patient_payments, insurance_payments "
                              "FROM marts.mart_collections_daily")
        if [money(r[2]), money(r[3])] != [money(0), money(0)]
    }
    assert mart == expected
    assert sum(v[0] for v in mart.values()) > 0 and sum(v[1] for v in mart.values()) > 0


def test_production_daily_equals_the_ledger(built):
    params, practice = built
    expected = {}
    for entry in practice.ledger["daily"].to_pylist():
        value = [money(entry["Production"]), money(entry["Adjustments"])]
        if value != [money(0), money(0)]:
            expected[(entry["Date"], entry["ClinicNum"], entry["ProvNum"])] = value
    mart = {
        (r[0], r[1], r[2]): [money(r[3]), money(r[4])]
        for r in rows(params, "SELECT production_date, clinic_id, provider_id, gross_production, "
                              "adjustments FROM marts.mart_production_daily")
        if [money(r[3]), money(r[4])] != [money(0), money(0)]
    }
    assert mart == expected


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
    assert 0 <= mart[3] <= mart[2]
    assert 0 < mart[5] <= 24 * 60 * raw[1]


def test_treatment_acceptance_counts_every_presented_procedure(built):
    params, _ = built
    presented, accepted, rate_out_of_range = rows(params, """
        SELECT sum(presented_count), sum(accepted_count),
               count(*) FILTER (WHERE acceptance_rate < 0 OR acceptance_rate > 1)
        FROM marts.mart_treatment_acceptance_monthly""")[0]
    raw = rows(params, """SELECT count(*) FROM raw.procedurelog
                          WHERE "DateTP" >= '1880-01-01' AND "ProcStatus" IN (1, 2, 6, 8)""")[0][0]
    assert presented == raw > 0
    assert 0 < accepted <= presented and rate_out_of_range == 0


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
        FROM raw.claim WHERE "ClaimType" IN ('P', 'S') AND "DateSent" >= '1880-01-01'""")[0]
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


def test_ar_summary_current_month_equals_stored_balances(built):
    params, _ = built
    summary = rows(params, f"""SELECT total_balance, insurance_responsibility + patient_responsibility
                               FROM marts.mart_ar_summary_monthly WHERE month = '{AS_OF.replace(day=1)}'""")
    stored = rows(params, 'SELECT sum("BalTotal") FROM raw.patient WHERE "PatNum" = "Guarantor"')[0][0]
    assert money(summary[0][0]) == money(stored) == money(summary[0][1])


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
            WHERE p."PayType" <> 0 GROUP BY 1, 2""")
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
        (r[0], r[1]): (money(r[2]), money(r[3]))
        for r in rows(params, """
            SELECT "DateCP", "ClinicNum",
                   coalesce(sum("InsPayAmt"::numeric(14, 2)) FILTER (WHERE "Status" = 1), 0),
                   coalesce(sum("InsPayAmt"::numeric(14, 2)) FILTER (WHERE "Status" = 4), 0)
            FROM raw.claimproc WHERE "Status" IN (1, 4) GROUP BY 1, 2""")
    }
    mart = {(r[0], r[1]): money(r[2]) for r in rows(params, """
        SELECT collection_date, clinic_id, insurance_payments FROM marts.mart_collections_daily
        WHERE insurance_claimproc_count > 0""")}
    assert mart == {k: received + supplemental for k, (received, supplemental) in raw.items()}
    assert sum(v[1] for v in raw.values()) > 0  # supplementals were paid, on their own days
    assert any(received == 0 and supplemental > 0 for received, supplemental in raw.values())


def test_claims_monthly_counts_secondary_claims(built):
    params, _ = built
    mart = dict(rows(params, "SELECT month, sum(claims_sent) FROM marts.mart_claims_monthly GROUP BY 1"))
    raw = rows(params, """
        SELECT date_trunc('month', "DateSent")::date, count(*) FILTER (WHERE "ClaimType" = 'P'),
               count(*) FILTER (WHERE "ClaimType" = 'S')
        FROM raw.claim WHERE "DateSent" >= '1880-01-01' GROUP BY 1""")
    assert {r[0]: r[1] + r[2] for r in raw} == mart
    assert sum(r[2] for r in raw) > 0
    # claims held until the primary is received were not sent: the mart leaves them out
    assert rows(params, """SELECT count(*) FROM raw.claim
                           WHERE "ClaimStatus" = 'H' AND "DateSent" >= '1880-01-01'""")[0][0] == 0


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
