"""Dirty mode: inject, at a given rate, the problems real OpenDental databases hold, and record each one.

``make_dirty(practice, rate, seed=None) -> Practice`` returns a copy whose tables carry the problems below
and whose ``ledger["injections"]`` lists every injected row (kind, table, column, key = the row's primary
key, check = the ``dental_synthetic.validate`` check that reports it). The ledger's ``daily`` and
``aging`` stay the clean practice's books: the truth the dirty rows deviate from.

For each kind, ``max(1, round(rate x eligible rows))`` distinct rows are changed (``rate`` in (0, 1]):

- ``sentinel_date``: a completed procedure's ProcDate set to OpenDental's 0001-01-01 (-> ``date_missing``);
- ``negative_amount``: a completed procedure's ProcFee negated (-> ``amount_range``);
- ``absurd_amount``: a paysplit's SplitAmt set to $987,654.32 (-> ``amount_range``);
- ``claimproc_claimnum_0``: a received claimproc's ClaimNum set to 0 (-> ``claimproc_without_claim``);
- ``orphan_row``: a commlog's PatNum pointing at no patient (-> ``foreign_key``);
- ``near_duplicate_plan``: an insurance plan copied under a new PlanNum with its GroupName upper-cased and
  padded with spaces (-> ``duplicate_plans``);
- ``unusual_status``: an appointment's AptStatus set to 9, no ApptStatus value, and a completed procedure's
  ProcStatus set to 9, no ProcStat value (-> ``status_enum``);
- ``orphan_reference``: a key OpenDental does not enforce set to a number no row holds, one kind per entry of
  ``ORPHAN_REFERENCES`` (-> ``foreign_key``), as a real practice's database holds them after deletes
  (OpenDentBusiness/Data Interface/DatabaseMaintenances.cs has a check for each): a treatment-planned
  procedure's AptNum (a deleted appointment: ProcedurelogWithInvalidAptNum), an estimate claimproc's ProcNum
  (a deleted procedure: ClaimProcDeleteEstimateWithInvalidProcNum), a patient's Guarantor (PatientBadGuarantor;
  a patient who is nobody's guarantor), a completed procedure's ProvNum, PatNum or CodeNum
  (ProcedurelogWithInvalidProvNum, the patient check PatientMissing, ProcedurelogCodeNumInvalid), a received
  claimproc's ClaimNum (ClaimProcWithInvalidClaimNum). The new number is past the largest key of the table
  referred to;
- ``missing_key``: a PatNum set to 0 (no patient: OpenDental enforces nothing; DatabaseMaintenances.PatientMissing
  looks for PatNum 0 in procedurelog among other tables) on a completed procedure, an adjustment, a paysplit
  of money (no unearned type) and a pending (NotReceived) claimproc estimate of a completed procedure; and
  on the payment plan rows the aging reads for money under the practice's PayPlansVersion
  (``validate.aged_plan_keys``; Ledgers.GetTransQueryString): a plan's PatNum (versions 1 and 4: its
  CompletedAmt; version 2: its credits; none under version 3) and the Guarantor of a patient plan's debit
  (PayPlanDue, every version; version 2 ages it); one kind per entry of ``MISSING_KEYS`` (-> ``patient_missing``;
  ``foreign_key`` skips 0);
- ``control_chars``: a commlog Note with a NUL byte and a BEL appended (-> ``text_control_chars``; the
  PostgreSQL writer drops the NUL, see ``dental_assets.pgcopy``, the BEL stays).

Side effects are expected and not listed: a changed procedure or payment also breaks its family's stored
aging (``family_balance``), a changed split its payment's total (``payment_totals``), a claimproc moved
off its claim the claim's totals (``claim_totals``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .util import ZERO_DAY

KINDS = ("sentinel_date", "negative_amount", "absurd_amount", "claimproc_claimnum_0", "orphan_row",
         "near_duplicate_plan", "unusual_status", "control_chars", "orphan_reference", "missing_key")
TP, COMPLETE = 1, 2  # procedurelog.ProcStatus (ProcStat)
NOT_RECEIVED, RECEIVED, ESTIMATE = 0, 1, 6  # claimproc.Status (ClaimProcStatus)
UNUSUAL_PROC_STATUS = 9  # the ProcStatus an unusual_status procedure gets: no ProcStat value
# orphan_reference kinds: (table, primary key, column, the rows eligible, (table referred to, its key))
ORPHAN_REFERENCES = (
    ("procedurelog", "ProcNum", "AptNum", "planned_on_appointment", ("appointment", "AptNum")),
    ("claimproc", "ClaimProcNum", "ProcNum", "estimate", ("procedurelog", "ProcNum")),
    ("patient", "PatNum", "Guarantor", "guarantor_of_nobody", ("patient", "PatNum")),
    ("procedurelog", "ProcNum", "ProvNum", "completed", ("provider", "ProvNum")),
    ("procedurelog", "ProcNum", "PatNum", "completed", ("patient", "PatNum")),
    ("procedurelog", "ProcNum", "CodeNum", "completed", ("procedurecode", "CodeNum")),
    ("claimproc", "ClaimProcNum", "ClaimNum", "received_on_claim", ("claim", "ClaimNum")),
    ("payplancharge", "PayPlanChargeNum", "PayPlanNum", "credit_of_money", ("payplan", "PayPlanNum")),
)
# missing_key kinds: (table, primary key, column set to 0, the rows eligible)
MISSING_KEYS = (
    ("procedurelog", "ProcNum", "PatNum", "completed"),
    ("adjustment", "AdjNum", "PatNum", "any"),
    ("paysplit", "SplitNum", "PatNum", "aged_split"),
    ("claimproc", "ClaimProcNum", "PatNum", "pending_estimate"),
    ("payplan", "PayPlanNum", "PatNum", "aged_plan"),
    ("payplancharge", "PayPlanChargeNum", "Guarantor", "aged_debit"),
)
NO_ROW = 0  # the key OpenDental stores for "none": NULL from staging on
INJECTION_SCHEMA = pa.schema([("Kind", pa.string()), ("TableName", pa.string()), ("ColumnName", pa.string()),
                              ("KeyNum", pa.int64()), ("CheckName", pa.string())])
DIRTY_STREAM = 0xD1  # second word of the dirty mode's seed: PCG64([seed, DIRTY_STREAM])
ABSURD_SPLIT_AMOUNT = 987_654.32  # dollars: the SplitAmt an absurd_amount split gets
UNUSUAL_APT_STATUS = 9  # the AptStatus an unusual_status appointment gets: no ApptStatus value
CONTROL_CHARS = "\x00\x07"  # NUL and BEL, appended to a control_chars commlog Note
PLAN_NAME_PADDING = "  "  # spaces appended to a near_duplicate_plan copy's upper-cased GroupName


def _np(t: pa.Table, name: str) -> np.ndarray:
    arr = t.column(name)
    if pa.types.is_date32(arr.type):
        return arr.cast(pa.int32()).to_numpy().astype(np.int64)
    return arr.to_numpy(zero_copy_only=False)


def _set(t: pa.Table, name: str, values) -> pa.Table:
    i = t.schema.get_field_index(name)
    field = t.schema.field(i)
    if not isinstance(values, (pa.Array, pa.ChunkedArray)):
        values = np.asarray(values)
        values = pa.array(values.astype(np.int32), type=pa.date32()) if pa.types.is_date32(field.type) \
            else pa.array(values, type=field.type)
    return t.set_column(i, field, values)


def make_dirty(practice, rate: float, seed: int | None = None):
    """A copy of ``practice`` with problems injected at ``rate`` (see the module docstring). Raises
    ValueError unless 0 < rate <= 1. Deterministic for a given practice, rate and seed (default: the
    practice's seed)."""
    if not 0.0 < rate <= 1.0:
        raise ValueError("the dirty rate must be in (0, 1]")
    inj = _Injector(practice, rate, seed)
    # one step per kind, in this order: each draws its rows from the one generator
    for step in (_sentinel_dates, _negative_fees, _absurd_splits, _claimprocs_off_claim, _orphan_commlogs,
                 _control_chars, _unusual_statuses, _near_duplicate_plans, _unusual_proc_statuses,
                 _orphan_references, _missing_keys):
        step(inj)
    ledger = dict(practice.ledger)
    ledger["injections"] = _injection_table(inj.records)
    return replace(practice, tables=inj.tables, ledger=ledger, dirty_rate=rate)


class _Injector:
    """The state the injection steps share: the practice's tables being changed (``tables``), the dirty
    mode's generator, the rows each table has had changed (``taken``) and the injections so far
    (``records``: kind, table, column, primary keys, check)."""

    def __init__(self, practice, rate: float, seed: int | None):
        self.tables = dict(practice.tables)
        self.rate = rate
        self.rng = np.random.Generator(np.random.PCG64([practice.config.seed if seed is None else seed,
                                                        DIRTY_STREAM]))
        self.taken: dict[str, set[int]] = {}
        self.records: list[tuple[str, str, str, np.ndarray, str]] = []

    def pick(self, table: str, mask: np.ndarray) -> np.ndarray:
        """Row indices for one kind, ``max(1, round(rate x eligible))`` of the rows where ``mask`` is True,
        distinct from rows other kinds changed in the same table; sorted."""
        used = self.taken.setdefault(table, set())
        eligible = np.flatnonzero(mask)
        eligible = eligible[~np.isin(eligible, np.fromiter(used, dtype=np.int64, count=len(used)))]
        k = min(len(eligible), max(1, int(round(self.rate * len(eligible)))))
        rows = np.sort(self.rng.choice(eligible, size=k, replace=False)) if k else np.zeros(0, np.int64)
        used.update(rows.tolist())
        return rows

    def record(self, kind: str, table: str, column: str, rows: np.ndarray, check: str, pk: str) -> None:
        """List the injected ``rows`` of ``table`` by their primary key column ``pk``."""
        self.records.append((kind, table, column, _np(self.tables[table], pk)[rows], check))


def _sentinel_dates(inj: _Injector) -> None:
    """sentinel_date: completed procedures' ProcDate set to 0001-01-01."""
    pl = inj.tables["procedurelog"]
    rows = inj.pick("procedurelog", _np(pl, "ProcStatus") == 2)
    inj.tables["procedurelog"] = _set(pl, "ProcDate", np.where(np.isin(np.arange(pl.num_rows), rows), ZERO_DAY,
                                                              _np(pl, "ProcDate")))
    inj.record("sentinel_date", "procedurelog", "ProcDate", rows, "date_missing", "ProcNum")


def _negative_fees(inj: _Injector) -> None:
    """negative_amount: completed procedures' positive ProcFee negated."""
    pl = inj.tables["procedurelog"]
    rows = inj.pick("procedurelog", (_np(pl, "ProcStatus") == 2) & (_np(pl, "ProcFee") > 0))
    fee = _np(pl, "ProcFee").copy()
    fee[rows] = -fee[rows]
    inj.tables["procedurelog"] = _set(pl, "ProcFee", fee)
    inj.record("negative_amount", "procedurelog", "ProcFee", rows, "amount_range", "ProcNum")


def _absurd_splits(inj: _Injector) -> None:
    """absurd_amount: paysplits' SplitAmt set to ABSURD_SPLIT_AMOUNT."""
    ps = inj.tables["paysplit"]
    rows = inj.pick("paysplit", np.ones(ps.num_rows, bool))
    amt = _np(ps, "SplitAmt").copy()
    amt[rows] = ABSURD_SPLIT_AMOUNT
    inj.tables["paysplit"] = _set(ps, "SplitAmt", amt)
    inj.record("absurd_amount", "paysplit", "SplitAmt", rows, "amount_range", "SplitNum")


def _claimprocs_off_claim(inj: _Injector) -> None:
    """claimproc_claimnum_0: received claimprocs' (Status 1) ClaimNum set to 0."""
    cp = inj.tables["claimproc"]
    rows = inj.pick("claimproc", _np(cp, "Status") == 1)
    claim = _np(cp, "ClaimNum").copy()
    claim[rows] = 0
    inj.tables["claimproc"] = _set(cp, "ClaimNum", claim)
    inj.record("claimproc_claimnum_0", "claimproc", "ClaimNum", rows, "claimproc_without_claim", "ClaimProcNum")


def _orphan_commlogs(inj: _Injector) -> None:
    """orphan_row: commlogs' PatNum set to new PatNums past the last patient."""
    cl = inj.tables["commlog"]
    rows = inj.pick("commlog", np.ones(cl.num_rows, bool))
    pat = _np(cl, "PatNum").copy()
    pat[rows] = int(_np(inj.tables["patient"], "PatNum").max(initial=0)) + 1 + np.arange(len(rows))
    inj.tables["commlog"] = _set(cl, "PatNum", pat)
    inj.record("orphan_row", "commlog", "PatNum", rows, "foreign_key", "CommlogNum")


def _control_chars(inj: _Injector) -> None:
    """control_chars: CONTROL_CHARS appended to commlog Notes."""
    cl = inj.tables["commlog"]
    rows = inj.pick("commlog", np.ones(cl.num_rows, bool))
    mask = np.isin(np.arange(cl.num_rows), rows)
    note = cl.column("Note").combine_chunks()
    dirty_note = pc.binary_join_element_wise(note, pa.scalar(CONTROL_CHARS), "")
    inj.tables["commlog"] = _set(cl, "Note", pc.if_else(pa.array(mask), dirty_note, note))
    inj.record("control_chars", "commlog", "Note", rows, "text_control_chars", "CommlogNum")


def _unusual_statuses(inj: _Injector) -> None:
    """unusual_status: appointments' AptStatus set to UNUSUAL_APT_STATUS."""
    ap = inj.tables["appointment"]
    rows = inj.pick("appointment", np.ones(ap.num_rows, bool))
    status = _np(ap, "AptStatus").copy()
    status[rows] = UNUSUAL_APT_STATUS
    inj.tables["appointment"] = _set(ap, "AptStatus", status)
    inj.record("unusual_status", "appointment", "AptStatus", rows, "status_enum", "AptNum")


def _near_duplicate_plans(inj: _Injector) -> None:
    """near_duplicate_plan: insplan rows copied under new PlanNums, GroupName upper-cased and padded with
    PLAN_NAME_PADDING; the copies are appended and listed by their new PlanNum."""
    ip = inj.tables["insplan"]
    rows = inj.pick("insplan", np.ones(ip.num_rows, bool))
    copies = ip.take(pa.array(rows))
    new_nums = int(_np(ip, "PlanNum").max(initial=0)) + 1 + np.arange(len(rows))
    copies = _set(copies, "PlanNum", new_nums)
    names = pc.utf8_upper(copies.column("GroupName"))
    copies = _set(copies, "GroupName", pc.binary_join_element_wise(names, pa.scalar(PLAN_NAME_PADDING), ""))
    inj.tables["insplan"] = pa.concat_tables([ip, copies])
    inj.records.append(("near_duplicate_plan", "insplan", "GroupName", new_nums, "duplicate_plans"))


def _unusual_proc_statuses(inj: _Injector) -> None:
    """unusual_status: completed procedures' ProcStatus set to UNUSUAL_PROC_STATUS."""
    pl = inj.tables["procedurelog"]
    rows = inj.pick("procedurelog", _np(pl, "ProcStatus") == COMPLETE)
    status = _np(pl, "ProcStatus").copy()
    status[rows] = UNUSUAL_PROC_STATUS
    inj.tables["procedurelog"] = _set(pl, "ProcStatus", status)
    inj.record("unusual_status", "procedurelog", "ProcStatus", rows, "status_enum", "ProcNum")


def _eligible(tables: dict, table: str, which: str) -> np.ndarray:
    """The rows of ``table`` an ORPHAN_REFERENCES kind may change (``which``)."""
    t = tables[table]
    if which == "planned_on_appointment":
        return (_np(t, "ProcStatus") == TP) & (_np(t, "AptNum") != 0)
    if which == "estimate":
        return _np(t, "Status") == ESTIMATE
    if which == "guarantor_of_nobody":
        pat, guarantor = _np(t, "PatNum"), _np(t, "Guarantor")
        return (pat != guarantor) & ~np.isin(pat, guarantor)
    if which == "completed":
        return _np(t, "ProcStatus") == COMPLETE
    if which == "any":
        return np.ones(t.num_rows, bool)
    if which == "credit_of_money":  # a payment plan credit of a Principal, dated when the plan was made
        return (_np(t, "ChargeType") == 1) & (_np(t, "Principal") != 0)
    if which == "received_on_claim":
        return (_np(t, "Status") == RECEIVED) & (_np(t, "ClaimNum") != 0)
    if which == "aged_split":  # a split the aging counts: money, no unearned type (none is hidden)
        return (_np(t, "SplitAmt") != 0) & (_np(t, "UnearnedType") == 0)
    if which == "pending_estimate":  # the insurance estimate of a complete procedure the aging reads
        procs = tables["procedurelog"]
        complete = _np(procs, "ProcNum")[_np(procs, "ProcStatus") == COMPLETE]
        return (_np(t, "Status") == NOT_RECEIVED) & (_np(t, "InsPayEst") != 0) & np.isin(_np(t, "ProcNum"), complete)
    if which in ("aged_plan", "aged_debit"):  # a payment plan row whose key the aging reads for money
        from .validate import aged_plan_keys  # the validator's rule, so each injection is one it reports

        return aged_plan_keys(tables)[("payplan", "PatNum") if which == "aged_plan" else ("payplancharge", "Guarantor")]
    raise ValueError(which)


def _orphan_references(inj: _Injector) -> None:
    """orphan_reference: for each ORPHAN_REFERENCES kind, the column set to new numbers past the largest key of
    the table referred to (so no row holds them)."""
    for table, pk, column, which, (parent, parent_key) in ORPHAN_REFERENCES:
        t = inj.tables[table]
        rows = inj.pick(table, _eligible(inj.tables, table, which))
        values = _np(t, column).copy()
        values[rows] = int(_np(inj.tables[parent], parent_key).max(initial=0)) + 1 + np.arange(len(rows))
        inj.tables[table] = _set(t, column, values)
        inj.record("orphan_reference", table, column, rows, "foreign_key", pk)


def _missing_keys(inj: _Injector) -> None:
    """missing_key: for each MISSING_KEYS kind, the column set to NO_ROW on the rows picked."""
    for table, pk, column, which in MISSING_KEYS:
        t = inj.tables[table]
        rows = inj.pick(table, _eligible(inj.tables, table, which))
        values = _np(t, column).copy()
        values[rows] = NO_ROW
        inj.tables[table] = _set(t, column, values)
        inj.record("missing_key", table, column, rows, "patient_missing", pk)


def _injection_table(records: list[tuple[str, str, str, np.ndarray, str]]) -> pa.Table:
    """``ledger["injections"]``: one row per injected row (INJECTION_SCHEMA), in the order of ``records``."""
    kinds, tables_, columns, keys, checks = [], [], [], [], []
    for kind, table, column, k, check in records:
        n = len(k)
        kinds += [kind] * n
        tables_ += [table] * n
        columns += [column] * n
        checks += [check] * n
        keys.append(np.asarray(k, dtype=np.int64))
    return pa.table([pa.array(kinds, pa.string()), pa.array(tables_, pa.string()),
                     pa.array(columns, pa.string()), pa.array(np.concatenate(keys) if keys else []),
                     pa.array(checks, pa.string())], schema=INJECTION_SCHEMA)
