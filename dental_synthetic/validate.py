"""``validate``: the invariants of a coherent OpenDental database, checked on any database holding
OpenDental's tables (PostgreSQL schema ``raw`` or a MariaDB/MySQL OpenDental database, read via SQL) or
on a generated practice in memory.

Checks (each finding names the check, the table and column, a row count and at most five keys;
never patient data):

- ``primary_key``: keys are unique and positive.
- ``foreign_key``: every non-zero reference resolves to a row of a table present (OpenDental uses 0 for
  "none"); references into tables not read are not checked.
- ``status_enum``: procedurelog.ProcStatus, appointment.AptStatus, claimproc.Status, clockevent.ClockStatus
  hold values of OpenDental's enums (ProcStat, ApptStatus, ClaimProcStatus, TimeClockStatus).
- ``amount_range``: procedurelog.ProcFee in [0, 50,000] dollars; payment.PayAmt, paysplit.SplitAmt,
  adjustment.AdjAmt within +-100,000; claimpayment.CheckAmt in [0, 1,000,000]; claimproc.InsPayAmt and
  WriteOff of received claimprocs non-negative.
- ``date_missing``: a sentinel (before 1900, e.g. 0001-01-01) where a date is required: completed
  procedures' ProcDate, adjustment.AdjDate, paysplit.DatePay, payment.PayDate, claim.DateService,
  claimpayment.CheckDate, received and supplemental claimprocs' DateCP.
- ``date_order``: paysplit.DatePay >= the paid procedure's ProcDate; payment.PayDate = its splits'
  DatePay; claim DateSent >= DateService, DateReceived >= DateSent; a claimproc's check date >= its claim's
  DateReceived and its DateCP = the check's CheckDate.
- ``perio_depth``: periomeasure.SequenceType is a PerioSequenceType value; a Probing row (4) has IntTooth
  1-32 and six site depths of -1 (no measurement) or 0-19 mm, as OpenDental allows.
- ``claimproc_without_claim``: claimprocs NotReceived/Received/Supplemental with ClaimNum 0.
- ``patient_missing``: a completed procedure, an adjustment, a paysplit or a claimproc with PatNum 0 (no
  patient: OpenDental's reports drop it, RpProdInc.GetDailyProdIncDataSet INNER JOINs patient for
  production and insurance income, the aging for every row, Ledgers.GetAgingGuarTransQuery; Database
  Maintenance's PatientMissing looks for PatNum 0); a payment plan row of a key 0 the aging reads for money
  under the practice's PayPlansVersion (``aged_plan_keys``: payplan.PatNum, payplancharge.PatNum or
  Guarantor); ``foreign_key`` skips 0.
- ``claim_totals``: claim.ClaimFee, InsPayEst, InsPayAmt, WriteOff = the sums of its claimprocs' FeeBilled,
  InsPayEst, InsPayAmt, WriteOff (cents).
- ``check_totals``: claimpayment.CheckAmt = the sum of InsPayAmt of its claimprocs (cents).
- ``payment_totals``: payment.PayAmt = the sum of its paysplits' SplitAmt (cents).
- ``family_balance``: each guarantor's stored BalTotal equals completed production (ProcFee x (UnitQty +
  BaseUnits)) + adjustments - patient payments - insurance payments - write-offs of the family; Bal_0_30,
  Bal_31_60, Bal_61_90, BalOver90 and InsEst equal OpenDental's aging as of ``as_of``
  (``dental_synthetic.ledger.family_aging``); other family members store zeros. To the cent.
- ``secondary_cob``: coordination of benefits: a claimproc on a secondary claim (ClaimType 'S') estimates
  and pays at most what the primary left of the procedure's charge (charge - the primary claim's
  InsPayAmt + WriteOff of its Received/Supplemental claimprocs, or InsPayEst + WriteOffEst while
  NotReceived).
- ``supplemental``: a Supplemental claimproc (Status 4) sits on a received claim (ClaimStatus 'R') that
  holds a Received claimproc (Status 1) of the same procedure.
- ``income_transfer``: an income transfer (payment.PayType 0) has PayAmt 0, splits that net to zero and
  at least one negative split.
- ``unearned_split``: a split of unearned money (UnearnedType <> 0) is not allocated to a procedure
  (ProcNum 0) and its UnearnedType is a definition of category 29 (PaySplitUnearnedType).
- ``duplicate_plans``: insurance plans equal on CarrierNum, EmployerNum, PlanType, GroupNum and GroupName
  (compared case- and space-insensitively).
- ``text_control_chars``: NUL bytes or control characters other than tab, CR and LF in note columns.
- ``insverify_fkey``: an insverify row's FKey is a patplan.PatPlanNum when VerifyType is PatientEnrollment
  (2) and an insplan.PlanNum when it is InsuranceBenefit (1) (OpenDental's InsVerifies.cs).
- ``not_checked``: a family of checks above could not run because a table or column it reads is
  missing (an OpenDental older than 24.3, a partial schema): the finding names it; the other checks run.
- ``ledger_daily`` / ``ledger_aging``: when a ground-truth ledger is present (schema ``synthetic`` beside
  ``raw``, or a Practice), the tables reproduce it to the cent.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from dental_assets.catalog import opendental_enums, quote_pg, raw_tables

from .ledger import AGING_COLUMNS, DAILY_MEASURES, AgingSettings, cents, daily_ledger, family_aging, proc_charge
from .util import lookup

ZERO_DAY = (dt.date(1, 1, 1) - dt.date(1970, 1, 1)).days
MIN_REAL_DAY = (dt.date(1900, 1, 1) - dt.date(1970, 1, 1)).days
NOTE_COLUMNS = {  # free-text columns scanned for control characters
    "commlog": ("Note",), "procnote": ("Note",), "appointment": ("Note",), "patientnote": ("FamFinancial",),
    "procedurelog": ("BillingNote",), "claim": ("ClaimNote",), "payment": ("PayNote",), "adjustment": ("AdjNote",),
    "task": ("Descript",), "statement": ("Note",),
}
_EXTRA = {  # non-key columns the checks read
    "procedurelog": ("ProcStatus", "ProcFee", "UnitQty", "BaseUnits", "ProcDate"),
    "appointment": ("AptStatus",),
    "clockevent": ("ClockStatus",),
    "adjustment": ("AdjAmt", "AdjDate", "ProcNum", "ProcDate"),
    "payment": ("PayAmt", "PayDate"),
    "paysplit": ("SplitAmt", "DatePay", "PayPlanNum", "UnearnedType"),
    "claim": ("ClaimFee", "InsPayEst", "InsPayAmt", "WriteOff", "DateService", "DateSent", "DateReceived",
              "ClaimStatus", "ClaimType"),
    "claimproc": ("Status", "FeeBilled", "InsPayEst", "InsPayAmt", "WriteOff", "WriteOffEst", "DateCP", "ProcDate",
                  "ProcNum", "PayPlanNum", "InsEstTotalOverride", "WriteOffEstOverride"),
    "payplanlink": ("PayPlanNum", "LinkType", "FKey", "AmountOverride"),  # dynamic plans' credits in the aging
    "definition": ("Category", "ItemValue"),
    "preference": ("PrefName", "ValueString"),  # the practice's settings the aging reads
    "payplan": ("PatNum", "PlanNum", "IsClosed", "CompletedAmt", "PayPlanDate"),
    "claimpayment": ("CheckAmt", "CheckDate"),
    "patient": AGING_COLUMNS[:6],
    "payplancharge": ("ChargeType", "ChargeDate", "Principal", "Interest", "Guarantor", "PatNum", "ProcNum", "PayPlanNum"),
    "insplan": ("PlanType", "GroupNum", "GroupName"),
    "periomeasure": ("SequenceType", "IntTooth", "MBvalue", "Bvalue", "DBvalue", "MLvalue", "Lvalue", "DLvalue"),
    "insverify": ("VerifyType", "FKey"),
}
_OUTSIDE = {("benefit", "CovCatNum")}  # OpenDental's fixed coverage categories, no table in raw
PROC_FEE_RANGE = (0, 50_000)  # amount_range: procedurelog.ProcFee, dollars, [low, high]
MONEY_ROW_RANGE = (-100_000, 100_000)  # amount_range: PayAmt, SplitAmt, AdjAmt, dollars, [low, high]
INSURANCE_AMOUNT_RANGE = (0, 1_000_000)  # amount_range: CheckAmt, received InsPayAmt, WriteOff, dollars, [low, high]
PROBE_DEPTH_MM = (-1, 19)  # perio_depth: a Probing row's site depth, mm, [low, high]; -1 = no measurement
TOOTH_NUMBERS = (1, 32)  # perio_depth: a Probing row's IntTooth (universal numbering), [low, high]
CONTROL_CHARS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"  # text_control_chars: NUL and control characters but tab, LF, CR
PAY_PLAN_DEBIT, PAY_PLAN_CREDIT = 0, 1  # payplancharge.ChargeType (PayPlanChargeType)
# PayPlansVersion (PayPlanVersions): Do Not Age, Age Credits and Debits, Age Credits Only, No Charges to Account
PAY_PLANS_DO_NOT_AGE, PAY_PLANS_AGE_CREDITS_AND_DEBITS, PAY_PLANS_AGE_CREDITS_ONLY, PAY_PLANS_NO_CHARGES = 1, 2, 3, 4


@dataclass
class Finding:
    """One violated invariant: ``count`` rows, ``keys`` the primary keys (or ids) of all of them (the
    report prints the first five)."""

    check: str
    table: str
    detail: str
    count: int
    keys: list[int] = field(default_factory=list)

    def line(self) -> str:
        shown = self.keys[:5]
        keys = f" (keys {', '.join(map(str, shown))}{', ...' if self.count > len(shown) else ''})" \
            if shown else ""
        return f"{self.check:<24} {self.table:<14} {self.count:>8,} rows: {self.detail}{keys}"


class ValidationReport:
    """The findings of one validation; ``ok`` when there are none."""

    def __init__(self, findings: list[Finding], tables: dict[str, int], as_of: dt.date):
        self.findings = findings
        self.tables = tables
        self.as_of = as_of

    @property
    def ok(self) -> bool:
        return not self.findings

    def checks(self) -> set[str]:
        return {f.check for f in self.findings}

    def text(self) -> str:
        head = f"validated {len(self.tables)} tables, {sum(self.tables.values()):,} rows, aging as of {self.as_of}"
        if self.ok:
            return head + ": every invariant holds"
        skipped = sum(f.check == "not_checked" for f in self.findings)
        summary = f": {len(self.findings) - skipped} violated invariants" + (f", {skipped} checks not run" if skipped else "")
        return "\n".join([head + summary] + [f.line() for f in self.findings])


# ----------------------------------------------------------------------------------------------- reading

def _wanted() -> dict[str, list[str]]:
    """Per raw table, the columns the checks read: primary key, integer references, _EXTRA, notes."""
    out = {}
    for table in raw_tables():
        cols = [table.primary_key]
        cols += [c.name for c in table.columns if c.fk and c.kind == "int" and c.name not in cols]
        for extra in _EXTRA.get(table.name, ()) + NOTE_COLUMNS.get(table.name, ()):
            if extra in table.column_names and extra not in cols:
                cols.append(extra)
        out[table.name] = cols
    return out


def _arrow_type(kind: str) -> pa.DataType:
    return {"int": pa.int64(), "float": pa.float64(), "date": pa.date32(), "datetime": pa.timestamp("s"),
            "timestamp": pa.timestamp("s")}.get(kind, pa.string())


def _from_rows(table_name: str, columns: list[str], rows: Iterable[tuple]) -> pa.Table:
    """Rows of SQL values (dates already as day numbers, see ``_select``) -> an Arrow table."""
    table = {t.name: t for t in raw_tables()}[table_name]
    data = list(zip(*rows)) if rows else [[] for _ in columns]
    arrays = []
    for name, values in zip(columns, data):
        kind = table.column(name).kind
        if kind == "date":
            arr = np.array([ZERO_DAY if v is None else int(v) for v in values], dtype=np.int64)
            arrays.append(pa.array(arr.astype(np.int32), type=pa.date32()))
        elif kind == "int":
            arrays.append(pa.array(np.array([0 if v is None else int(v) for v in values], dtype=np.int64)))
        elif kind == "float":
            arrays.append(pa.array(np.array([0.0 if v is None else float(v) for v in values], dtype=np.float64)))
        else:
            arrays.append(pa.array(["" if v is None else (v.decode("utf-8", "replace") if isinstance(v, bytes)
                                                          else str(v)) for v in values], type=pa.string()))
    return pa.table(dict(zip(columns, arrays)))


def read_postgres(params, schema: str = "raw") -> dict[str, pa.Table]:
    """The columns the checks need from every raw table present in ``schema`` (COPY, CSV)."""
    wanted = _wanted()
    conn = params.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))
            present = {r[0] for r in cur.fetchall()}
            out = {}
            catalog = {t.name: t for t in raw_tables()}
            for name, cols in wanted.items():
                if name not in present:
                    continue
                cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                            "AND table_name = %s", (schema, name))
                have = {r[0] for r in cur.fetchall()}
                cols = [c for c in cols if c in have]
                exprs = []
                for c in cols:
                    kind = catalog[name].column(c).kind
                    q = quote_pg(c)
                    exprs.append(f"({q} - DATE '1970-01-01')" if kind == "date" else q)
                buf = io.BytesIO()
                cur.copy_expert(f"COPY (SELECT {', '.join(exprs)} FROM {quote_pg(schema)}.{quote_pg(name)}) "
                                "TO STDOUT WITH (FORMAT csv)", buf)
                out[name] = _parse_csv(catalog[name], cols, buf.getvalue())
            return out
    finally:
        conn.close()


def _parse_csv(table, cols: list[str], data: bytes) -> pa.Table:
    """PostgreSQL CSV (dates as day numbers) -> Arrow in the generator's types; NULL -> 0 / ''."""
    kinds = [table.column(c).kind for c in cols]
    types = {c: pa.int64() if k in ("int", "date") else pa.float64() if k == "float" else pa.string()
             for c, k in zip(cols, kinds)}
    if not data:
        return pa.table({c: pa.array([], type=types[c]) for c in cols}).cast(
            pa.schema([(c, pa.date32() if k == "date" else types[c]) for c, k in zip(cols, kinds)]))
    parsed = pcsv.read_csv(io.BytesIO(data), read_options=pcsv.ReadOptions(column_names=cols),
                           convert_options=pcsv.ConvertOptions(column_types=types, strings_can_be_null=False))
    arrays = []
    for c, k in zip(cols, kinds):
        arr = parsed.column(c)
        if k == "date":
            arr = pc.fill_null(arr, ZERO_DAY).cast(pa.int32()).cast(pa.date32())
        elif k in ("int", "float"):
            arr = pc.fill_null(arr, 0)
        arrays.append(arr)
    return pa.table(dict(zip(cols, arrays)))


def read_mysql(url: str) -> dict[str, pa.Table]:
    """The columns the checks need from every OpenDental table present in a MariaDB/MySQL database
    (``mysql+pymysql://user:pass@host:port/db``)."""
    from dental_assets.replication.mysql import MySqlParams, connect

    params = MySqlParams.from_url(url, setting="--target")
    conn = connect(params)  # read-only, UTC
    wanted = _wanted()
    catalog = {t.name: t for t in raw_tables()}
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s",
                        (params.database,))
            have: dict[str, set[str]] = {}
            for t, c in cur.fetchall():
                have.setdefault(t.lower(), set()).add(c)
            out = {}
            for name, cols in wanted.items():
                if name not in have:
                    continue
                cols = [c for c in cols if c in have[name] or c.lower() in {h.lower() for h in have[name]}]
                exprs = [f"DATEDIFF(`{c}`, '1970-01-01')" if catalog[name].column(c).kind == "date" else f"`{c}`"
                         for c in cols]
                cur.execute(f"SELECT {', '.join(exprs)} FROM `{name}`")
                out[name] = _from_rows(name, cols, cur.fetchall())
            return out
    finally:
        conn.close()


def read_postgres_ledger(params) -> tuple[dict[str, pa.Table], dt.date | None]:
    """The ground-truth ledger written beside ``raw`` (schema ``synthetic``), and its as-of date; empty
    and None when absent."""
    conn = params.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'synthetic'")
            present = {r[0] for r in cur.fetchall()}
            if "run" not in present:
                return {}, None
            cur.execute('SELECT "AsOf" FROM synthetic.run')
            as_of = cur.fetchone()[0]
            ledger = {}
            for name, key in (("daily", ("Date", "ClinicNum", "ProvNum")), ("aging", ("Guarantor",))):
                if f"ledger_{name}" in present:
                    cols = list(key) + list(DAILY_MEASURES if name == "daily" else AGING_COLUMNS)
                    cur.execute(f"SELECT {', '.join(quote_pg(c) for c in cols)} FROM synthetic.ledger_{name}")
                    rows = cur.fetchall()
                    data = list(zip(*rows)) if rows else [[] for _ in cols]
                    table = {}
                    for c, v in zip(cols, data):
                        if c == "Date":
                            table[c] = pa.array(list(v), type=pa.date32())
                        elif c in key:
                            table[c] = pa.array(list(v), type=pa.int64())
                        else:
                            table[c] = pa.array([float(x) for x in v], type=pa.float64())
                    ledger[name] = pa.table(table)
            return ledger, as_of
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------------ checks

def _col(t: pa.Table, name: str) -> np.ndarray:
    arr = t.column(name)
    if pa.types.is_date32(arr.type):
        return arr.cast(pa.int32()).to_numpy().astype(np.int64)
    if pa.types.is_timestamp(arr.type):
        return arr.cast(pa.int64()).to_numpy()
    return arr.to_numpy(zero_copy_only=False)


class _Checker:
    def __init__(self, tables: dict[str, pa.Table]):
        self.t = tables
        self.findings: list[Finding] = []

    def has(self, *names: str) -> bool:
        return all(n in self.t for n in names)

    def flag(self, check: str, table: str, detail: str, mask: np.ndarray, keys: np.ndarray) -> None:
        mask = np.asarray(mask, dtype=bool)
        count = int(mask.sum())
        if count:
            self.findings.append(Finding(check, table, detail, count, np.asarray(keys)[mask].tolist()))

    def key(self, table: str) -> np.ndarray:
        return _col(self.t[table], {t.name: t for t in raw_tables()}[table].primary_key)


def _sum_by(keys: np.ndarray, values: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Sums of ``values`` grouped by ``keys``, looked up for each of ``targets`` (0 when absent)."""
    if len(targets) == 0:
        return np.zeros(0, dtype=np.int64)
    uniq, inv = np.unique(keys, return_inverse=True)
    sums = np.zeros(len(uniq), dtype=np.int64)
    np.add.at(sums, inv, values)
    pos = np.clip(np.searchsorted(uniq, targets), 0, max(len(uniq) - 1, 0))
    found = (len(uniq) > 0) & (uniq[pos] == targets) if len(uniq) else np.zeros(len(targets), bool)
    return np.where(found, sums[pos] if len(uniq) else 0, 0)


def check_tables(tables: dict[str, pa.Table], as_of: dt.date, ledger: dict[str, pa.Table] | None = None
                 ) -> ValidationReport:
    """Every invariant of the module docstring on ``tables`` (raw table name -> Arrow table holding at
    least the columns the checks read, in the generator's types). ``as_of`` is the day the stored aging
    is as of; ``ledger`` the ground truth (``"daily"``, ``"aging"``) when known."""
    key_findings, keys = _guarded(_primary_keys, tables, default={})
    findings = key_findings + _guarded(_foreign_keys, tables, keys)
    for family in (_status_enums, _perio_depths, _amount_ranges, _required_dates, _payment_date_order,
                   _claim_date_order, _claimproc_without_claim, _patient_missing, _totals, _secondary_cob,
                   _supplementals, _income_transfers, _unearned_splits):
        findings += _guarded(family, tables)
    balance_findings, recomputed = _guarded(_family_balances, tables, as_of, default=None)
    findings += balance_findings
    for family in (_duplicate_plans, _control_characters, _insverify_fkeys):
        findings += _guarded(family, tables)
    findings += _guarded(_ground_truth, tables, ledger, recomputed)
    counts = {name: t.num_rows for name, t in tables.items()}
    return ValidationReport(findings, counts, as_of)


_NO_DEFAULT = object()


def _guarded(family, *args, default=_NO_DEFAULT):
    """``family(*args)``, a family of checks returning its findings (or, given ``default``, a pair of
    its findings and a value). A table or column it reads that the tables lack (an OpenDental older
    than the catalog's, a partial schema) raises KeyError inside it; that becomes one ``not_checked``
    finding naming what is missing (and ``default`` for the value), so the other checks still run and
    the report is not ``ok``. Any other KeyError (a table the tables hold, a name that is no table) is
    a defect and propagates."""
    try:
        return family(*args)
    except KeyError as exc:
        said = exc.args[0] if exc.args else None
        column = re.fullmatch(r'Field "(.+)" does not exist in schema', str(said))  # pyarrow's, for a column
        if column:
            missing = f"column {column.group(1)}"
        elif isinstance(said, str) and said not in args[0]:  # the tables (every family's first argument)
            missing = f"table {said}"
        else:
            raise
        name = family.__name__.strip("_").replace("_", " ")
        finding = Finding("not_checked", "-", f"{name}: not checked, {missing} is missing", 0)
        return [finding] if default is _NO_DEFAULT else ([finding], default)


def _primary_keys(tables: dict[str, pa.Table]) -> tuple[list[Finding], dict[str, np.ndarray]]:
    """``primary_key`` findings (every table's key duplicated or <= 0) and, per table holding its key
    column, the sorted distinct keys (int64) the references resolve against."""
    c = _Checker(tables)
    catalog = {t.name: t for t in raw_tables()}
    keys = {}
    for name, t in tables.items():
        pk = catalog[name].primary_key
        if pk not in t.column_names:
            continue
        k = _col(t, pk)
        keys[name] = np.unique(k)
        dup = np.zeros(len(k), dtype=bool)
        if len(k):
            order = np.argsort(k, kind="stable")
            d = np.zeros(len(k), dtype=bool)
            d[1:] = k[order][1:] == k[order][:-1]
            dup[order] = d
        c.flag("primary_key", name, f"{pk} duplicated or not positive", dup | (k <= 0), k)
    return c.findings, keys


def _foreign_keys(tables: dict[str, pa.Table], keys: dict[str, np.ndarray]) -> list[Finding]:
    """``foreign_key`` findings: non-zero integer references (the catalog's fk columns) missing from
    ``keys`` of the referenced table; tables not read and ``_OUTSIDE`` are skipped."""
    c = _Checker(tables)
    catalog = {t.name: t for t in raw_tables()}
    for name, t in tables.items():
        for column in catalog[name].columns:
            if not column.fk or column.kind != "int" or column.name not in t.column_names:
                continue
            if column.fk not in keys or (name, column.name) in _OUTSIDE:
                continue
            v = _col(t, column.name)
            target = keys[column.fk]
            pos = np.clip(np.searchsorted(target, v), 0, max(len(target) - 1, 0))
            bad = (v != 0) & ((target[pos] != v) if len(target) else True)
            c.flag("foreign_key", name, f"{column.name} -> {column.fk} does not resolve", bad, c.key(name))
    return c.findings


def _status_enums(tables: dict[str, pa.Table]) -> list[Finding]:
    """``status_enum`` findings: procedurelog.ProcStatus, appointment.AptStatus, claimproc.Status,
    clockevent.ClockStatus outside OpenDental's enum (``opendental_enums``)."""
    c = _Checker(tables)
    enums = opendental_enums()
    for table, column, enum in (("procedurelog", "ProcStatus", "ProcStat"), ("appointment", "AptStatus", "ApptStatus"),
                                ("claimproc", "Status", "ClaimProcStatus"),
                                ("clockevent", "ClockStatus", "TimeClockStatus")):
        if c.has(table):
            allowed = [int(v["value"]) for v in enums[enum]["values"]]
            c.flag("status_enum", table, f"{column} not a {enum} value", ~np.isin(_col(tables[table], column), allowed),
                   c.key(table))
    return c.findings


def _perio_depths(tables: dict[str, pa.Table]) -> list[Finding]:
    """``perio_depth`` findings on periomeasure: SequenceType not a PerioSequenceType, or a Probing row
    with IntTooth outside ``TOOTH_NUMBERS`` or a site depth (MBvalue..DLvalue) outside ``PROBE_DEPTH_MM``."""
    c = _Checker(tables)
    if c.has("periomeasure"):
        pm = tables["periomeasure"]
        seq = _col(pm, "SequenceType")
        allowed = [int(v["value"]) for v in opendental_enums()["PerioSequenceType"]["values"]]
        sites = np.stack([_col(pm, n) for n in ("MBvalue", "Bvalue", "DBvalue", "MLvalue", "Lvalue", "DLvalue")])
        tooth = _col(pm, "IntTooth")
        probing = seq == 4  # PerioSequenceType.Probing
        depth_bad = ((sites < PROBE_DEPTH_MM[0]) | (sites > PROBE_DEPTH_MM[1])).any(axis=0)
        bad = ~np.isin(seq, allowed) | (probing & (depth_bad | (tooth < TOOTH_NUMBERS[0]) | (tooth > TOOTH_NUMBERS[1])))
        c.flag("perio_depth", "periomeasure", "SequenceType, IntTooth or a probing depth out of range", bad,
               c.key("periomeasure"))
    return c.findings


def _amount_range(c: _Checker, table: str, column: str, lo: int, hi: int, mask: np.ndarray | None = None) -> None:
    """Flags ``amount_range`` where ``table.column`` (dollars, compared in cents) is outside [lo, hi]
    dollars, among the rows of ``mask`` when given."""
    if c.has(table):
        v = cents(c.t[table].column(column))
        m = (v < lo * 100) | (v > hi * 100)
        c.flag("amount_range", table, f"{column} outside [{lo:,}, {hi:,}] dollars",
               m if mask is None else m & mask, c.key(table))


def _amount_ranges(tables: dict[str, pa.Table]) -> list[Finding]:
    """``amount_range`` findings: procedurelog.ProcFee, payment.PayAmt, paysplit.SplitAmt, adjustment.AdjAmt,
    claimpayment.CheckAmt, and InsPayAmt, WriteOff of Received/Supplemental claimprocs."""
    c = _Checker(tables)
    _amount_range(c, "procedurelog", "ProcFee", *PROC_FEE_RANGE)
    for table, column in (("payment", "PayAmt"), ("paysplit", "SplitAmt"), ("adjustment", "AdjAmt")):
        _amount_range(c, table, column, *MONEY_ROW_RANGE)
    _amount_range(c, "claimpayment", "CheckAmt", *INSURANCE_AMOUNT_RANGE)
    if c.has("claimproc"):
        received = np.isin(_col(tables["claimproc"], "Status"), (1, 4))
        for column in ("InsPayAmt", "WriteOff"):
            _amount_range(c, "claimproc", column, *INSURANCE_AMOUNT_RANGE, mask=received)
    return c.findings


def _required_date(c: _Checker, table: str, column: str, mask: np.ndarray | None = None) -> None:
    """Flags ``date_missing`` where ``table.column`` is a sentinel day (before 1900), among the rows of
    ``mask`` when given."""
    if c.has(table):
        m = _col(c.t[table], column) < MIN_REAL_DAY
        c.flag("date_missing", table, f"{column} is a sentinel date", m if mask is None else m & mask, c.key(table))


def _required_dates(tables: dict[str, pa.Table]) -> list[Finding]:
    """``date_missing`` findings: completed procedures' ProcDate, adjustment.AdjDate, paysplit.DatePay,
    payment.PayDate, claim.DateService, claimpayment.CheckDate, received/supplemental claimprocs' DateCP."""
    c = _Checker(tables)
    if c.has("procedurelog"):
        _required_date(c, "procedurelog", "ProcDate", _col(tables["procedurelog"], "ProcStatus") == 2)
    for table, column in (("adjustment", "AdjDate"), ("paysplit", "DatePay"), ("payment", "PayDate"),
                          ("claim", "DateService"), ("claimpayment", "CheckDate")):
        _required_date(c, table, column)
    if c.has("claimproc"):
        _required_date(c, "claimproc", "DateCP", np.isin(_col(tables["claimproc"], "Status"), (1, 4)))
    return c.findings


def _payment_date_order(tables: dict[str, pa.Table]) -> list[Finding]:
    """``date_order`` findings on paysplit: DatePay before the paid procedure's ProcDate (procedurelog), or
    different from its payment's PayDate (payment)."""
    c = _Checker(tables)
    if c.has("paysplit", "procedurelog"):
        ps, pl = tables["paysplit"], tables["procedurelog"]
        pn = _col(ps, "ProcNum")
        pdate = lookup(_col(pl, "ProcNum"), _col(pl, "ProcDate"), pn, ZERO_DAY)
        c.flag("date_order", "paysplit", "DatePay before the procedure's ProcDate",
               (pn != 0) & (_col(ps, "DatePay") < pdate), c.key("paysplit"))
    if c.has("paysplit", "payment"):
        ps, pay = tables["paysplit"], tables["payment"]
        pdate = lookup(_col(pay, "PayNum"), _col(pay, "PayDate"), _col(ps, "PayNum"), ZERO_DAY)
        c.flag("date_order", "paysplit", "DatePay differs from its payment's PayDate",
               (_col(ps, "PayNum") != 0) & (_col(ps, "DatePay") != pdate), c.key("paysplit"))
    return c.findings


def _claim_date_order(tables: dict[str, pa.Table]) -> list[Finding]:
    """``date_order`` findings on claim (DateService <= DateSent <= DateReceived) and claimproc (its check's
    CheckDate on or after the claim's DateReceived, and equal to the claimproc's DateCP)."""
    c = _Checker(tables)
    if c.has("claim"):
        cl = tables["claim"]
        svc, sent, rec = (_col(cl, n) for n in ("DateService", "DateSent", "DateReceived"))
        real = lambda d: d >= MIN_REAL_DAY  # noqa: E731
        c.flag("date_order", "claim", "DateSent before DateService", real(sent) & real(svc) & (sent < svc),
               c.key("claim"))
        c.flag("date_order", "claim", "DateReceived before DateSent or without DateSent",
               real(rec) & (~real(sent) | (rec < sent)), c.key("claim"))
    if c.has("claimproc", "claim", "claimpayment"):
        cp, cl, chk = tables["claimproc"], tables["claim"], tables["claimpayment"]
        num = _col(cp, "ClaimPaymentNum")
        on_check = num != 0
        check_day = lookup(_col(chk, "ClaimPaymentNum"), _col(chk, "CheckDate"), num, ZERO_DAY)
        recv_day = lookup(_col(cl, "ClaimNum"), _col(cl, "DateReceived"), _col(cp, "ClaimNum"), ZERO_DAY)
        c.flag("date_order", "claimproc", "check dated before its claim was received",
               on_check & (check_day < recv_day), c.key("claimproc"))
        c.flag("date_order", "claimproc", "DateCP differs from its check's CheckDate",
               on_check & (_col(cp, "DateCP") != check_day), c.key("claimproc"))
    return c.findings


def _claimproc_without_claim(tables: dict[str, pa.Table]) -> list[Finding]:
    """``claimproc_without_claim`` findings: NotReceived/Received/Supplemental claimprocs with ClaimNum 0."""
    c = _Checker(tables)
    if c.has("claimproc"):
        cp = tables["claimproc"]
        c.flag("claimproc_without_claim", "claimproc", "NotReceived/Received/Supplemental with ClaimNum 0",
               np.isin(_col(cp, "Status"), (0, 1, 4)) & (_col(cp, "ClaimNum") == 0), c.key("claimproc"))
    return c.findings


def _patient_missing(tables: dict[str, pa.Table]) -> list[Finding]:
    """``patient_missing`` findings: completed procedures, adjustments, paysplits and claimprocs with PatNum 0
    (the aging joins the patient, Ledgers.GetAgingGuarTransQuery: their money is in no family), and the
    payment plan rows of a key 0 the aging reads under the practice's PayPlansVersion (``aged_plan_keys``)."""
    c = _Checker(tables)
    if c.has("procedurelog"):
        pl = tables["procedurelog"]
        c.flag("patient_missing", "procedurelog", "completed with PatNum 0",
               (_col(pl, "ProcStatus") == 2) & (_col(pl, "PatNum") == 0), c.key("procedurelog"))
    for table in ("adjustment", "paysplit", "claimproc"):
        if c.has(table):
            t = tables[table]
            c.flag("patient_missing", table, "PatNum 0", _col(t, "PatNum") == 0, c.key(table))
    if c.has("payplan", "payplancharge"):
        for (table, column), read in aged_plan_keys(tables).items():
            c.flag("patient_missing", table, f"{column} 0 on a row the aging reads (PayPlansVersion)",
                   read & (_col(tables[table], column) == 0), c.key(table))
    return c.findings


def aged_plan_keys(tables: dict[str, pa.Table]) -> dict[tuple[str, str], np.ndarray]:
    """The payment plan rows whose patient key OpenDental 24.3's aging reads for an amount other than 0
    under the practice's PayPlansVersion (its ``preference`` rows, ``AgingSettings``), per (table, column)
    a mask of the table's rows, whatever the key holds (Ledgers.GetTransQueryString; the rule of
    dental_dbt/macros/pay_plan_aging.sql, which int_aging_transactions and mart_data_exceptions read):

    - payplan.PatNum: versions 1 and 4 ('PPComplete', version 4 insurance plans only) of a CompletedAmt;
      version 2 of a plan with a credit (ChargeType other than Debit) of a Principal: credits are aged on
      the plan's PatNum;
    - payplancharge.PatNum: version 3, a credit (ChargeType Credit) of a Principal;
    - payplancharge.Guarantor: a debit of Principal + Interest on a patient plan (PlanNum 0): PayPlanDue in
      every version ('PPCharge'), and version 2 ages it; a debit whose plan row is gone is read by neither
      (PayPlanDue INNER JOINs the plan; version 2's amount is 0 when pp.PlanNum is NULL).
    A dynamic plan's links are aged on the linked procedure's or adjustment's PatNum, not the plan's."""
    version = AgingSettings.from_tables(tables).pay_plans_version
    pp, ppc = tables["payplan"], tables["payplancharge"]
    plan_num, completed = _col(pp, "PayPlanNum"), _col(pp, "CompletedAmt") != 0
    charge_type, principal = _col(ppc, "ChargeType"), _col(ppc, "Principal")
    credit = (charge_type != PAY_PLAN_DEBIT) & (principal != 0)
    if version == PAY_PLANS_DO_NOT_AGE:
        plan_read = completed
    elif version == PAY_PLANS_NO_CHARGES:
        plan_read = completed & (_col(pp, "PlanNum") != 0)
    elif version == PAY_PLANS_AGE_CREDITS_AND_DEBITS:
        plan_read = np.isin(plan_num, _col(ppc, "PayPlanNum")[credit])
    else:
        plan_read = np.zeros(pp.num_rows, dtype=bool)
    patient_plan = np.isin(_col(ppc, "PayPlanNum"), plan_num[_col(pp, "PlanNum") == 0])
    debit = (charge_type == PAY_PLAN_DEBIT) & (principal + _col(ppc, "Interest") != 0) & patient_plan
    credit_read = (version == PAY_PLANS_AGE_CREDITS_ONLY) & (charge_type == PAY_PLAN_CREDIT) & (principal != 0)
    return {("payplan", "PatNum"): plan_read, ("payplancharge", "PatNum"): credit_read,
            ("payplancharge", "Guarantor"): debit}


def _totals(tables: dict[str, pa.Table]) -> list[Finding]:
    """``claim_totals``, ``check_totals``, ``payment_totals`` findings: claim, claimpayment and payment amounts
    differing (in cents) from the sums of their claimproc / paysplit rows."""
    c = _Checker(tables)
    if c.has("claimproc", "claim"):
        cp, cl = tables["claimproc"], tables["claim"]
        for claim_col, cp_col in (("ClaimFee", "FeeBilled"), ("InsPayEst", "InsPayEst"), ("InsPayAmt", "InsPayAmt"),
                                  ("WriteOff", "WriteOff")):
            total = _sum_by(_col(cp, "ClaimNum"), cents(cp.column(cp_col)), _col(cl, "ClaimNum"))
            c.flag("claim_totals", "claim", f"{claim_col} differs from the sum of claimproc.{cp_col}",
                   total != cents(cl.column(claim_col)), c.key("claim"))
    if c.has("claimproc", "claimpayment"):
        cp, chk = tables["claimproc"], tables["claimpayment"]
        total = _sum_by(_col(cp, "ClaimPaymentNum"), cents(cp.column("InsPayAmt")), _col(chk, "ClaimPaymentNum"))
        c.flag("check_totals", "claimpayment", "CheckAmt differs from the sum of claimproc.InsPayAmt",
               total != cents(chk.column("CheckAmt")), c.key("claimpayment"))
    if c.has("paysplit", "payment"):
        ps, pay = tables["paysplit"], tables["payment"]
        total = _sum_by(_col(ps, "PayNum"), cents(ps.column("SplitAmt")), _col(pay, "PayNum"))
        c.flag("payment_totals", "payment", "PayAmt differs from the sum of paysplit.SplitAmt",
               total != cents(pay.column("PayAmt")), c.key("payment"))
    return c.findings


def _secondary_cob(tables: dict[str, pa.Table]) -> list[Finding]:
    """``secondary_cob`` findings: claimprocs of secondary claims (claim.ClaimType 'S') whose InsPayEst or
    InsPayAmt exceed the procedure's charge less what its primary claimprocs paid and wrote off (cents)."""
    c = _Checker(tables)
    if c.has("claimproc", "claim", "procedurelog"):
        cp, cl, pl = tables["claimproc"], tables["claim"], tables["procedurelog"]
        status = _col(cp, "Status")
        proc = _col(cp, "ProcNum")
        claim_type = lookup(_col(cl, "ClaimNum"), np.asarray(cl.column("ClaimType").to_pylist(), dtype=object),
                             _col(cp, "ClaimNum"), "")
        charge = lookup(_col(pl, "ProcNum"), proc_charge(pl), proc, 0)
        primary = (claim_type == "P") & (proc != 0)
        settled = np.where(np.isin(status, (1, 4)), cents(cp.column("InsPayAmt")) + cents(cp.column("WriteOff")),
                           np.where(status == 0, cents(cp.column("InsPayEst")) + cents(cp.column("WriteOffEst")), 0))
        taken = _sum_by(proc[primary], settled[primary], proc)
        left = np.maximum(charge - taken, 0)
        secondary = (claim_type == "S") & (proc != 0)
        c.flag("secondary_cob", "claimproc", "secondary InsPayEst above what the primary left (charge - primary "
               "payment and write-off)", secondary & (cents(cp.column("InsPayEst")) > left), c.key("claimproc"))
        c.flag("secondary_cob", "claimproc", "secondary InsPayAmt above what the primary left",
               secondary & (cents(cp.column("InsPayAmt")) > left), c.key("claimproc"))
    return c.findings


def _supplementals(tables: dict[str, pa.Table]) -> list[Finding]:
    """``supplemental`` findings: Supplemental claimprocs (Status 4) not on a received claim (ClaimStatus 'R')
    that holds a Received claimproc (Status 1) of the same procedure."""
    c = _Checker(tables)
    if c.has("claimproc", "claim", "procedurelog"):
        cp, cl = tables["claimproc"], tables["claim"]
        status = _col(cp, "Status")
        proc = _col(cp, "ProcNum")
        supp = status == 4
        claim_recv = lookup(_col(cl, "ClaimNum"), np.asarray(cl.column("ClaimStatus").to_pylist(), dtype=object),
                             _col(cp, "ClaimNum"), "") == "R"
        rec = status == 1
        pair = _col(cp, "ClaimNum") * (int(proc.max(initial=0)) + 1) + proc
        has_received = np.isin(pair, pair[rec])
        c.flag("supplemental", "claimproc", "Supplemental without a received claim holding a Received claimproc of "
               "the same procedure", supp & ~(claim_recv & has_received & (proc != 0)), c.key("claimproc"))
    return c.findings


def _income_transfers(tables: dict[str, pa.Table]) -> list[Finding]:
    """``income_transfer`` findings on payment: a PayType 0 payment whose PayAmt or paysplit.SplitAmt do not
    net to zero (cents), or without a negative split."""
    c = _Checker(tables)
    if c.has("paysplit", "payment"):
        ps, pay = tables["paysplit"], tables["payment"]
        transfer = _col(pay, "PayType") == 0
        amount = cents(ps.column("SplitAmt"))
        pay_num = _col(pay, "PayNum")
        net = _sum_by(_col(ps, "PayNum"), amount, pay_num)
        negative = _sum_by(_col(ps, "PayNum"), (amount < 0).astype(np.int64), pay_num)
        c.flag("income_transfer", "payment", "income transfer (PayType 0) whose PayAmt or splits do not net to zero",
               transfer & ((cents(pay.column("PayAmt")) != 0) | (net != 0)), pay_num)
        c.flag("income_transfer", "payment", "income transfer (PayType 0) without a negative split",
               transfer & (negative == 0), pay_num)
    return c.findings


def _unearned_splits(tables: dict[str, pa.Table]) -> list[Finding]:
    """``unearned_split`` findings on paysplit: UnearnedType <> 0 with a ProcNum, or an UnearnedType that is
    not a definition (DefNum) of Category 29."""
    c = _Checker(tables)
    if c.has("paysplit") and "UnearnedType" in tables["paysplit"].column_names:
        ps = tables["paysplit"]
        unearned = _col(ps, "UnearnedType")
        c.flag("unearned_split", "paysplit", "unearned split (UnearnedType <> 0) allocated to a procedure",
               (unearned != 0) & (_col(ps, "ProcNum") != 0), c.key("paysplit"))
        if c.has("definition"):
            df = tables["definition"]
            category = lookup(_col(df, "DefNum"), _col(df, "Category"), unearned, -1)
            c.flag("unearned_split", "paysplit", "UnearnedType is not a definition of category 29 "
                   "(PaySplitUnearnedType)", (unearned != 0) & (category != 29), c.key("paysplit"))
    return c.findings


def _family_balances(tables: dict[str, pa.Table], as_of: dt.date) -> tuple[list[Finding], pa.Table | None]:
    """``family_balance`` findings (patient.BalTotal, Bal_0_30 .. InsEst against ``family_aging`` as of
    ``as_of``, to the cent; non-guarantors store zeros) and the recomputed aging (a row per guarantor),
    None when a table or column it needs is missing."""
    c = _Checker(tables)
    needed = ("patient", "procedurelog", "adjustment", "paysplit", "claimproc", "payplan", "payplancharge")
    if not (c.has(*needed) and all(n in tables["patient"].column_names for n in AGING_COLUMNS[:6])):
        return c.findings, None
    pt = tables["patient"]
    pat = _col(pt, "PatNum")
    guar = _col(pt, "Guarantor")
    n = int(pat.max(initial=0))
    guarantor = np.arange(1, n + 1, dtype=np.int64)  # a PatNum without a row is its own family
    guarantor[pat - 1] = np.where((guar >= 1) & (guar <= n), guar, pat)
    safe = _drop_unknown_patients(tables, n)
    recomputed = family_aging(safe, guarantor, as_of)
    is_guar = pat == guarantor[pat - 1]
    g_row = lookup(_col(recomputed, "Guarantor"), np.arange(recomputed.num_rows), pat, -1)
    for name in AGING_COLUMNS[:6]:
        stored = cents(pt.column(name))
        expect = np.where(g_row >= 0, cents(recomputed.column(name))[np.maximum(g_row, 0)], 0)
        expect = np.where(is_guar, expect, 0)
        what = ("BalTotal differs from production + adjustments - payments - insurance - write-offs"
                if name == "BalTotal" else f"{name} differs from the family's aging")
        c.flag("family_balance", "patient", what, stored != expect, pat)
    return c.findings, recomputed


def _duplicate_plans(tables: dict[str, pa.Table]) -> list[Finding]:
    """``duplicate_plans`` findings: insplan rows equal to an earlier one on CarrierNum, EmployerNum, PlanType,
    GroupNum and GroupName (the last two case- and space-insensitive)."""
    c = _Checker(tables)
    if c.has("insplan"):
        ip = tables["insplan"]
        norm = [" ".join(s.lower().split()) for s in ip.column("GroupName").to_pylist()]
        gnum = [" ".join(s.lower().split()) for s in ip.column("GroupNum").to_pylist()]
        sig = list(zip(_col(ip, "CarrierNum").tolist(), _col(ip, "EmployerNum").tolist(),
                       ip.column("PlanType").to_pylist(), gnum, norm))
        first: dict[tuple, int] = {}
        dup = np.zeros(ip.num_rows, dtype=bool)
        for i, s in enumerate(sig):
            if s in first:
                dup[i] = True
            else:
                first[s] = i
        c.flag("duplicate_plans", "insplan", "same carrier, employer, type, group number and name as an "
               "earlier plan", dup, c.key("insplan"))
    return c.findings


def _control_characters(tables: dict[str, pa.Table]) -> list[Finding]:
    """``text_control_chars`` findings: rows of the ``NOTE_COLUMNS`` holding ``CONTROL_CHARS``."""
    c = _Checker(tables)
    for table, cols in NOTE_COLUMNS.items():
        for column in cols:
            if c.has(table) and column in tables[table].column_names:
                bad = pc.match_substring_regex(tables[table].column(column), CONTROL_CHARS)
                c.flag("text_control_chars", table, f"{column} holds NUL or control characters",
                       bad.to_numpy(zero_copy_only=False), c.key(table))
    return c.findings


def _insverify_fkeys(tables: dict[str, pa.Table]) -> list[Finding]:
    """``insverify_fkey`` findings: insverify.FKey not resolving to the table its VerifyType names
    (2: patplan.PatPlanNum, 1: insplan.PlanNum)."""
    c = _Checker(tables)
    if c.has("insverify", "patplan", "insplan"):
        iv = tables["insverify"]
        kind, fkey = _col(iv, "VerifyType"), _col(iv, "FKey")
        for code, table, key in ((2, "patplan", "PatPlanNum"), (1, "insplan", "PlanNum")):
            rows = kind == code
            c.flag("insverify_fkey", "insverify", f"FKey of VerifyType {code} is no {table}.{key}",
                   rows & ~np.isin(fkey, _col(tables[table], key)), c.key("insverify"))
    return c.findings


def _ground_truth(tables: dict[str, pa.Table], ledger: dict[str, pa.Table] | None,
                  recomputed: pa.Table | None) -> list[Finding]:
    """``ledger_daily`` / ``ledger_aging`` findings: the ground truth's rows (keys: Date, ClinicNum, ProvNum /
    Guarantor) the tables' daily ledger or the ``recomputed`` aging do not reproduce to the cent."""
    c = _Checker(tables)
    if ledger and c.has("procedurelog", "adjustment", "claimproc", "paysplit"):
        if "daily" in ledger and all("ClinicNum" in tables[n].column_names and "ProvNum" in tables[n].column_names
                                     for n in ("procedurelog", "adjustment", "claimproc", "paysplit")):
            _compare(c, "ledger_daily", daily_ledger(tables), ledger["daily"], ("Date", "ClinicNum", "ProvNum"),
                     DAILY_MEASURES)
        if "aging" in ledger and recomputed is not None:
            _compare(c, "ledger_aging", recomputed, ledger["aging"], ("Guarantor",), AGING_COLUMNS)
    return c.findings


def _drop_unknown_patients(tables: dict[str, pa.Table], n: int) -> dict[str, pa.Table]:
    """The money tables without rows whose PatNum is outside 1..n (reported by ``foreign_key``)."""
    out = dict(tables)
    for name, col in (("procedurelog", "PatNum"), ("adjustment", "PatNum"), ("paysplit", "PatNum"),
                      ("claimproc", "PatNum"), ("payplancharge", "Guarantor")):
        v = _col(tables[name], col)
        ok = (v >= 1) & (v <= n)
        if not ok.all():
            out[name] = tables[name].filter(pa.array(ok))
    return out


def _compare(c: _Checker, check: str, actual: pa.Table, truth: pa.Table, key: tuple[str, ...],
             measures: Iterable[str]) -> None:
    """Rows of ``truth`` and ``actual`` matched on ``key``; a measure differing by a cent, or a key on one
    side only with a non-zero measure, is a finding (keys reported: the last key column)."""
    measures = tuple(measures)

    def rows(t: pa.Table) -> dict[tuple, tuple]:
        keys = zip(*(_col(t, k).tolist() for k in key))
        values = zip(*(cents(t.column(m)).tolist() for m in measures))
        return dict(zip(keys, values))

    a, t = rows(actual), rows(truth)
    zero = (0,) * len(measures)
    bad = sorted(k for k in set(a) | set(t) if a.get(k, zero) != t.get(k, zero))
    c.flag(check, "ledger", f"ground-truth rows ({', '.join(key)}) not reproduced by the tables",
           np.ones(len(bad), dtype=bool), np.array([k[-1] for k in bad], dtype=np.int64))


# ------------------------------------------------------------------------------------------------- entry

def validate_practice(practice) -> ValidationReport:
    """Check a generated ``Practice`` (its tables against its own ledger)."""
    ledger = {k: v for k, v in practice.ledger.items() if k in ("daily", "aging")}
    return check_tables(practice.tables, practice.config.as_of, ledger)


def validate_target(target: str, as_of: dt.date | None = None) -> ValidationReport:
    """Read a database and check it. ``target``: ``postgresql+psycopg2://`` (schema ``raw``, with the
    ledger of schema ``synthetic`` when present) or ``mysql+pymysql://`` / ``mariadb+pymysql://`` (an
    OpenDental database). ``as_of``: the day the stored aging is as of; defaults to the as-of date the
    generator recorded (``synthetic.run``). Raises ValueError when neither is known or the URL is not
    a database URL."""
    if target.startswith("postgresql"):
        from dental_assets.warehouse import PgParams

        params = PgParams.from_url(target, setting="--target")
        tables = read_postgres(params)
        ledger, recorded = read_postgres_ledger(params)
        as_of = as_of or recorded
    elif target.startswith(("mysql", "mariadb")):
        if as_of is None:
            raise ValueError("the as-of date of the stored aging is unknown: pass --as-of YYYY-MM-DD")
        tables = read_mysql(target)
        ledger = {}
    else:
        raise ValueError("validate needs a database URL: postgresql+psycopg2://... or mysql+pymysql://...")
    if as_of is None:
        raise ValueError("the as-of date of the stored aging is unknown: pass --as-of YYYY-MM-DD")
    if not tables:
        raise ValueError("no OpenDental tables found in the target")
    return check_tables(tables, as_of, ledger)


__all__ = ["Finding", "ValidationReport", "aged_plan_keys", "check_tables", "validate_practice", "validate_target",
           "read_postgres", "read_mysql"]
