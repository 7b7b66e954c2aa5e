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
- ``unusual_status``: an appointment's AptStatus set to 9, no ApptStatus value (-> ``status_enum``);
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
         "near_duplicate_plan", "unusual_status", "control_chars")
INJECTION_SCHEMA = pa.schema([("Kind", pa.string()), ("TableName", pa.string()), ("ColumnName", pa.string()),
                              ("KeyNum", pa.int64()), ("CheckName", pa.string())])


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
    rng = np.random.Generator(np.random.PCG64([practice.config.seed if seed is None else seed, 0xD1]))
    t = dict(practice.tables)
    records: list[tuple[str, str, str, np.ndarray, str]] = []
    taken: dict[str, set[int]] = {}

    def pick(table: str, mask: np.ndarray) -> np.ndarray:
        """Row indices for one kind: distinct from rows other kinds changed in the same table."""
        used = taken.setdefault(table, set())
        eligible = np.flatnonzero(mask)
        eligible = eligible[~np.isin(eligible, np.fromiter(used, dtype=np.int64, count=len(used)))]
        k = min(len(eligible), max(1, int(round(rate * len(eligible)))))
        rows = np.sort(rng.choice(eligible, size=k, replace=False)) if k else np.zeros(0, np.int64)
        used.update(rows.tolist())
        return rows

    def record(kind, table, column, rows, check, pk):
        records.append((kind, table, column, _np(t[table], pk)[rows], check))

    pl = t["procedurelog"]
    done = _np(pl, "ProcStatus") == 2
    rows = pick("procedurelog", done)
    pl = _set(pl, "ProcDate", np.where(np.isin(np.arange(pl.num_rows), rows), ZERO_DAY, _np(pl, "ProcDate")))
    t["procedurelog"] = pl
    record("sentinel_date", "procedurelog", "ProcDate", rows, "date_missing", "ProcNum")
    rows = pick("procedurelog", done & (_np(pl, "ProcFee") > 0))
    fee = _np(pl, "ProcFee").copy()
    fee[rows] = -fee[rows]
    t["procedurelog"] = _set(pl, "ProcFee", fee)
    record("negative_amount", "procedurelog", "ProcFee", rows, "amount_range", "ProcNum")

    ps = t["paysplit"]
    rows = pick("paysplit", np.ones(ps.num_rows, bool))
    amt = _np(ps, "SplitAmt").copy()
    amt[rows] = 987_654.32
    t["paysplit"] = _set(ps, "SplitAmt", amt)
    record("absurd_amount", "paysplit", "SplitAmt", rows, "amount_range", "SplitNum")

    cp = t["claimproc"]
    rows = pick("claimproc", _np(cp, "Status") == 1)
    claim = _np(cp, "ClaimNum").copy()
    claim[rows] = 0
    t["claimproc"] = _set(cp, "ClaimNum", claim)
    record("claimproc_claimnum_0", "claimproc", "ClaimNum", rows, "claimproc_without_claim", "ClaimProcNum")

    cl = t["commlog"]
    rows = pick("commlog", np.ones(cl.num_rows, bool))
    pat = _np(cl, "PatNum").copy()
    pat[rows] = int(_np(t["patient"], "PatNum").max(initial=0)) + 1 + np.arange(len(rows))
    t["commlog"] = _set(cl, "PatNum", pat)
    record("orphan_row", "commlog", "PatNum", rows, "foreign_key", "CommlogNum")
    cl = t["commlog"]
    rows = pick("commlog", np.ones(cl.num_rows, bool))
    mask = np.isin(np.arange(cl.num_rows), rows)
    note = cl.column("Note").combine_chunks()
    dirty_note = pc.binary_join_element_wise(note, pa.scalar("\x00\x07"), "")
    t["commlog"] = _set(cl, "Note", pc.if_else(pa.array(mask), dirty_note, note))
    record("control_chars", "commlog", "Note", rows, "text_control_chars", "CommlogNum")

    ap = t["appointment"]
    rows = pick("appointment", np.ones(ap.num_rows, bool))
    status = _np(ap, "AptStatus").copy()
    status[rows] = 9
    t["appointment"] = _set(ap, "AptStatus", status)
    record("unusual_status", "appointment", "AptStatus", rows, "status_enum", "AptNum")

    ip = t["insplan"]
    rows = pick("insplan", np.ones(ip.num_rows, bool))
    copies = ip.take(pa.array(rows))
    new_nums = int(_np(ip, "PlanNum").max(initial=0)) + 1 + np.arange(len(rows))
    copies = _set(copies, "PlanNum", new_nums)
    names = pc.utf8_upper(copies.column("GroupName"))
    copies = _set(copies, "GroupName", pc.binary_join_element_wise(names, pa.scalar("  "), ""))
    t["insplan"] = pa.concat_tables([ip, copies])
    records.append(("near_duplicate_plan", "insplan", "GroupName", new_nums, "duplicate_plans"))

    kinds, tables_, columns, keys, checks = [], [], [], [], []
    for kind, table, column, k, check in records:
        n = len(k)
        kinds += [kind] * n
        tables_ += [table] * n
        columns += [column] * n
        checks += [check] * n
        keys.append(np.asarray(k, dtype=np.int64))
    injections = pa.table([pa.array(kinds, pa.string()), pa.array(tables_, pa.string()),
                           pa.array(columns, pa.string()), pa.array(np.concatenate(keys) if keys else []),
                           pa.array(checks, pa.string())], schema=INJECTION_SCHEMA)
    ledger = dict(practice.ledger)
    ledger["injections"] = injections
    return replace(practice, tables=t, ledger=ledger, dirty_rate=rate)
