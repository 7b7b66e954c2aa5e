"""Transactions dated exactly on the aging bucket boundaries (issue 12, item 4).

OpenDental ages a charge by its age in days d = as-of date - transaction date: 0-30 (0 <= d <= 30),
31-60, 61-90, over 90 (docs/opendental_aging.md section 3). Charges a day either side of each edge tell
a correct aging from one whose boundary is shifted by a day, so the generator dates a few transactions
at exactly the ages ``BOUNDARY_AGES`` before each of its reference dates: the run date (``as_of``) and the
``BOUNDARY_MONTH_ENDS`` month ends before its month (the as-of dates of OpenDental's historic aging).

- **Charges**: finance charges (adjustment type "Finance Charge", positive, on no procedure), about
  ``BOUNDARY_PATIENT_SHARE`` of the patients and at least one per (reference date, age), each for an
  active patient entered on or before its day; ``BOUNDARY_CHARGE_RANGE`` cents.
- **Credits**: discounts on a procedure (adjustment type "Cash Discount", negative, attached to the
  procedure, dated on the reference date itself): ``BOUNDARY_DISCOUNT_SHARE`` of the completed procedures
  dated exactly at a boundary age before a reference date that still have a balance (uninsured, or their
  insurance received), ``BOUNDARY_DISCOUNT_PCT`` of the charge, at most that balance. Under AgingProcLifo
  such a credit is aged in its procedure's bucket (the procedure's date on the boundary); with the
  setting off it is a credit dated on the as-of day.

Every draw comes from a stream of its own (``Context.stream(BOUNDARY_STREAM)``), so the other rows of
a practice stay as they were; the output is deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .context import Context
from .practice import Setup, enum_codes
from .people import People
from .util import DAY, pct_of

BOUNDARY_AGES = (0, 30, 31, 60, 61, 90, 91)  # days before a reference date: both sides of each bucket edge
BOUNDARY_MONTH_ENDS = 3  # month ends before the run date's month that are reference dates too
BOUNDARY_PATIENT_SHARE = 0.05  # finance charges on boundary days: this share of the patient count
BOUNDARY_CHARGE_RANGE = (500, 5_001)  # a finance charge's amount in cents, [low, high)
BOUNDARY_DISCOUNT_SHARE = 0.5  # share of the open completed procedures on a boundary day given a discount
BOUNDARY_DISCOUNT_PCT = 10  # a boundary discount's percentage of the procedure's charge
BOUNDARY_STREAM = 8837  # seed offset of this feature's random stream


@dataclass(frozen=True)
class BoundaryProcedures:
    """The completed procedures the discounts may attach to, index = procedure row: ``day`` (ProcDate,
    day number), ``pat`` (patient index, PatNum - 1), ``prov``, ``clinic``, ``proc_num`` (ProcNum),
    ``charge`` (cents), ``open`` (cents still owed by the patient after every payment, discount and
    write-off; 0 where the procedure is not complete or its insurance is still pending)."""

    day: np.ndarray
    pat: np.ndarray
    prov: np.ndarray
    clinic: np.ndarray
    proc_num: np.ndarray
    charge: np.ndarray
    open: np.ndarray


def reference_dates(ctx: Context) -> np.ndarray:
    """The run date and the ``BOUNDARY_MONTH_ENDS`` month ends before its month (day numbers, latest
    first), those on or after ``ctx.start``."""
    month = np.datetime64(int(ctx.as_of), "D").astype("datetime64[M]")
    ends = [int((month - k).astype("datetime64[D]").astype(np.int64)) - 1 for k in range(BOUNDARY_MONTH_ENDS)]
    return np.array([ctx.as_of] + [d for d in ends if d >= ctx.start], dtype=np.int64)


def boundary_adjustments(ctx: Context, setup: Setup, people: People, procs: BoundaryProcedures) -> dict[str, np.ndarray]:
    """The boundary charges and credits as adjustment columns (the billing stage's adjustment part:
    ``day``, ``amount`` (cents, signed), ``pat`` (index), ``type`` (AdjType DefNum), ``prov``, ``proc``
    (ProcNum, 0: none), ``proc_date``, ``clinic``) plus ``ts``, the entry moment (seconds since epoch,
    office hours on ``day``). Charges first, then credits."""
    stream = ctx.stream(BOUNDARY_STREAM)
    refs = reference_dates(ctx)
    ages = np.array(BOUNDARY_AGES, dtype=np.int64)
    slot_day = (refs[:, None] - ages[None, :]).reshape(-1)  # (reference, age) slots, reference-major
    charges = _finance_charges(stream, setup, people, slot_day)
    credits = _discounts(stream, setup, procs, slot_day, np.repeat(refs, len(ages)))
    out = {k: np.concatenate([charges[k], credits[k]]).astype(np.int64) for k in charges}
    out["ts"] = ctx.stamp(out["day"] * DAY + stream.integers(8 * 3600, 17 * 3600, size=len(out["day"])))
    return out


def _finance_charges(stream: np.random.Generator, setup: Setup, people: People,
                     slot_day: np.ndarray) -> dict[str, np.ndarray]:
    """Finance charges dealt round-robin over the slot days (at least one each, about
    ``BOUNDARY_PATIENT_SHARE`` x patients in all), each on an active patient entered on or before its
    day (a slot no such patient exists for gets none)."""
    n_charges = max(int(round(BOUNDARY_PATIENT_SHARE * people.n)), len(slot_day))
    day = slot_day[np.arange(n_charges) % len(slot_day)]
    active = np.flatnonzero(people.status == enum_codes("PatientStatus")["Patient"])
    by_entry = active[np.argsort(people.entry[active], kind="stable")]
    eligible = np.searchsorted(people.entry[by_entry], day, side="right")  # patients entered on or before
    pick = np.floor(stream.random(n_charges) * np.maximum(eligible, 1)).astype(np.int64)
    amount = stream.integers(*BOUNDARY_CHARGE_RANGE, size=n_charges)
    keep = eligible > 0
    pat = by_entry[np.minimum(pick, np.maximum(eligible - 1, 0))][keep] if len(by_entry) else pick[:0]
    day, amount = day[keep], amount[keep]
    n = len(day)
    return dict(day=day, amount=amount, pat=pat, type=np.full(n, setup.defs[("AdjTypes", "finance_charge")]),
                prov=people.pri_prov[pat], proc=np.zeros(n, np.int64), proc_date=day, clinic=people.clinic[pat])


def _discounts(stream: np.random.Generator, setup: Setup, procs: BoundaryProcedures, slot_day: np.ndarray,
               slot_ref: np.ndarray) -> dict[str, np.ndarray]:
    """Discounts on ``BOUNDARY_DISCOUNT_SHARE`` of the open procedures dated on a slot day, entered on
    that slot's reference date (the first slot of a day that is on several)."""
    first_slot: dict[int, int] = {}
    for slot, d in enumerate(slot_day.tolist()):
        first_slot.setdefault(d, slot)
    on_slot = np.flatnonzero(np.isin(procs.day, slot_day) & (procs.open > 0))
    chosen = on_slot[stream.random(len(on_slot)) < BOUNDARY_DISCOUNT_SHARE]
    ref_day = slot_ref[np.array([first_slot[d] for d in procs.day[chosen].tolist()], dtype=np.int64)]
    discount = np.minimum(np.maximum(pct_of(procs.charge[chosen], BOUNDARY_DISCOUNT_PCT), 1), procs.open[chosen])
    m = len(chosen)
    return dict(day=ref_day, amount=-discount, pat=procs.pat[chosen],
                type=np.full(m, setup.defs[("AdjTypes", "cash_discount")]), prov=procs.prov[chosen],
                proc=procs.proc_num[chosen], proc_date=procs.day[chosen], clinic=procs.clinic[chosen])
