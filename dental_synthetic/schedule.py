"""Appointments, procedures and recalls.

The simulation, per patient over ``[max(start, entry), min(leaving day, as_of + 120 days)]``:

1. Hygiene visits every 6 months (3 for perio patients), the first one a new-patient visit for
   patients who joined during the simulated years; some are skipped; only the next future visit is
   booked. Each visit carries exam, cleaning, radiograph and fluoride procedures by age and rhythm.
2. Hygiene visits are placed on the hygienist's operatory between 08:00 and 17:00 without overlap
   (a full day pushes the rest to the next business day). Past ones are completed, broken or on the
   unscheduled list (``completion_rate``, ``broken_rate``); future ones are scheduled.
3. Emergency visits (limited exam, radiographs, palliative care) on the dentist's operatory.
4. Completed exams and emergencies produce treatment items (fillings, crowns, root canals, scaling,
   extractions, ...). An item is referred out (ProcStatus R), accepted and booked on the dentist's
   operatory (then completed, broken or still scheduled), put on a planned appointment, or left
   treatment-planned.
5. New patients' existing restorations (ProcStatus EC) and a few procedures deleted after entry
   (ProcStatus D).
6. One prophy/perio/child recall per active patient.

Keys are assigned in order of creation time, as OpenDental's auto-increment would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import reference as ref
from .columns import strings
from .context import Context
from .people import NEVER, People
from .practice import Setup, enum_codes, time_pattern
from .util import (
    CLOSE_MINUTE,
    DAY,
    OPEN_MINUTE,
    ZERO_DAY,
    add_months,
    business_day,
    cumsum_before,
    dense_codes,
    expand,
    group_bounds,
    group_firsts,
    key_order,
    primary_keys,
    rank_within,
    ts,
    weekday_near,
)

APT = enum_codes("ApptStatus")
PROC = enum_codes("ProcStat")

SURFS = ("", "O", "B", "L", "MO", "DO", "OL", "OB", "MOD", "MOB", "DOL", "F", "M", "D", "MF", "DF", "ML", "DL",
         "UR", "UL", "LR", "LL", "U", "L")
_SURF = {s: i for i, s in enumerate(SURFS)}
MOLARS = np.array([2, 3, 14, 15, 18, 19, 30, 31])
PREMOLARS = np.array([4, 5, 12, 13, 20, 21, 28, 29])
POSTERIOR = np.concatenate([MOLARS, PREMOLARS])
ANTERIOR = np.array([6, 7, 8, 9, 10, 11, 22, 23, 24, 25, 26, 27])
WISDOM = np.array([1, 16, 17, 32])
SEALANT_TEETH = np.array([3, 14, 19, 30, 2, 15, 18, 31])

# treatment item kinds
FILL, SEAL, CROWN, RCT, SRP, EXT, IMPLANT, GUARD, DENTURE, BLEACH = range(10)
KIND_APT_TYPE = {FILL: "restorative", SEAL: "restorative", CROWN: "crown", RCT: "endo", SRP: "perio_tx",
                 EXT: "surgery", IMPLANT: "surgery", GUARD: "restorative", DENTURE: "restorative",
                 BLEACH: "restorative"}


@dataclass
class Procedures:
    """Procedure rows (index = ProcNum - 1). Money in cents, days as day numbers."""

    pat: np.ndarray
    apt: np.ndarray  # AptNum or 0
    code: np.ndarray
    status: np.ndarray
    date: np.ndarray
    fee: np.ndarray  # ProcFee, cents
    units: np.ndarray  # UnitQty + BaseUnits
    prov: np.ndarray
    clinic: np.ndarray
    created: np.ndarray  # SecDateEntry, seconds
    tooth: np.ndarray  # tooth number, 0 none
    referred_to: np.ndarray  # specialty key index into SPECIALTIES for ProcStatus R, -1 otherwise


@dataclass
class Appointments:
    """Appointment rows (index = AptNum - 1)."""

    pat: np.ndarray
    status: np.ndarray
    date: np.ndarray
    start: np.ndarray  # minute of the day
    minutes: np.ndarray
    prov: np.ndarray
    clinic: np.ndarray
    is_new: np.ndarray
    created: np.ndarray  # SecDateTEntry, seconds


SPECIALTIES = ("endo", "oral_surgery")


@dataclass
class Clinical:
    procs: Procedures
    apts: Appointments


# ---------------------------------------------------------------------------------------------------------
def pack(rng: np.random.Generator, op: np.ndarray, day: np.ndarray, minutes: np.ndarray,
         pinned: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Place appointments on operatories: returns (day, start minute). Within a day an operatory's
    appointments follow each other in random order with random gaps, all between opening and closing;
    what does not fit moves to the next business day. ``pinned`` rows are placed first."""
    n = len(op)
    day = np.asarray(day, dtype=np.int64).copy()
    if n == 0:
        return day, np.zeros(0, dtype=np.int64)
    pinned = np.zeros(n, dtype=bool) if pinned is None else pinned
    capacity = CLOSE_MINUTE - OPEN_MINUTE
    minutes = np.minimum(minutes, capacity)
    while True:
        order = key_order(op, day, (~pinned).astype(np.int64), rng.integers(0, 1 << 30, size=n))
        key = op[order] * (1 << 24) + (day[order] - day.min())
        used = cumsum_before(minutes[order], key) + minutes[order]
        over = used > capacity
        if not over.any():
            break
        moved = order[over]
        day[moved] = business_day(day[moved] + 1)
    _, gid = group_bounds(key)
    n_groups = gid[-1] + 1
    total = np.bincount(gid, weights=minutes[order], minlength=n_groups).astype(np.int64)
    free_slots = (capacity - total) // 10
    weight = rng.integers(1, 1000, size=n)
    weight_total = np.bincount(gid, weights=weight, minlength=n_groups).astype(np.int64)
    weight_total += rng.integers(1, 1000, size=n_groups)  # slack after the last appointment
    gap = free_slots[gid] * weight // weight_total[gid] * 10
    start_sorted = OPEN_MINUTE + cumsum_before(minutes[order] + gap, key) + gap
    start = np.empty(n, dtype=np.int64)
    start[order] = start_sorted
    return day, start


NO_SHOW_STREAM = 7919  # seed offset of the no-show propensity's own random stream


def no_show_propensity(ctx: Context, patient: np.ndarray) -> np.ndarray:
    """Each patient's tendency to break appointments, mean 1 (gamma, shape 0.8), indexed by PatNum - 1.

    Drawn from a random stream of its own (seed + NO_SHOW_STREAM), so it leaves every other draw as
    it is. This is the signal the no-show model and the patient scores can find: a patient's earlier
    broken appointments predict the next ones."""
    size = int(patient.max(initial=-1)) + 1
    stream = ctx.stream(NO_SHOW_STREAM)
    return stream.gamma(0.8, 1 / 0.8, size)[patient] if size else np.zeros(0)


def _status(rng: np.random.Generator, ctx: Context, day: np.ndarray, patient: np.ndarray) -> np.ndarray:
    """Past appointments: completed, broken or on the unscheduled list; future ones: scheduled.

    An appointment breaks with probability broken_rate x its patient's no-show propensity (at most
    0.9); the rest complete or go to the unscheduled list in the configured proportions."""
    cfg = ctx.config
    u = rng.random(len(day))
    broken = np.minimum(cfg.broken_rate * no_show_propensity(ctx, patient), 0.9)
    rest = (u - broken) / (1 - broken)
    complete_share = cfg.completion_rate / max(1e-9, 1 - cfg.broken_rate)
    past = np.where(u < broken, APT["Broken"],
                    np.where(rest < complete_share, APT["Complete"], APT["UnschedList"]))
    return np.where(day <= ctx.as_of, past, APT["Scheduled"])


def _round_minutes(total: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.clip((total + 9) // 10 * 10, lo, hi)


@dataclass
class _ProcBlock:
    """Procedures produced for some owner rows (visits or items) before keys exist."""

    owner: np.ndarray
    code: np.ndarray
    tooth: np.ndarray
    surf: np.ndarray
    qty: np.ndarray
    base: np.ndarray

    @staticmethod
    def concat(blocks: list[_ProcBlock]) -> _ProcBlock:
        return _ProcBlock(*[np.concatenate([getattr(b, f) for b in blocks]).astype(np.int64)
                            for f in ("owner", "code", "tooth", "surf", "qty", "base")])


def _block(owner, code, tooth=0, surf=0, qty=1, base=0) -> _ProcBlock:
    owner = np.asarray(owner, dtype=np.int64)
    n = len(owner)

    def full(x):
        return np.broadcast_to(np.asarray(x, dtype=np.int64), (n,)).copy()

    return _ProcBlock(owner, full(code), full(tooth), full(surf), full(qty), full(base))


def _pick(rng, values, size, p=None) -> np.ndarray:
    values = np.asarray(values)
    return values[rng.choice(len(values), size=size, p=None if p is None else np.asarray(p) / np.sum(p))]


# ---------------------------------------------------------------------------------------------------------
def build_schedule(ctx: Context, setup: Setup, people: People) -> Clinical:
    rng = ctx.rng
    cn = setup.code_num
    birth = people.birth

    # --- 1. hygiene visits --------------------------------------------------------------------------------
    a_start = np.maximum(ctx.start, people.entry)
    a_end = np.minimum(people.end, ctx.horizon)
    interval = np.where(people.perio, 91, 182)
    new = people.entry >= ctx.start
    first = np.where(new, people.entry, ctx.start + (rng.random(people.n) * interval).astype(np.int64))
    visits = (people.end != NEVER) & (a_end >= first)
    count = np.where(visits, (a_end - first) // interval + 1, 0)
    owner, j = expand(count)
    np_visit = new[owner] & (j == 0)
    day = first[owner] + j * interval[owner] + np.where(np_visit, 0, rng.integers(-12, 13, size=len(owner)))
    day = np.clip(day, a_start[owner], a_end[owner])
    keep = np_visit | (rng.random(len(owner)) >= 0.12)
    future = day > ctx.as_of
    fut_rows = np.flatnonzero(keep & future)
    first_fut = group_firsts(owner[fut_rows])  # rows are in patient order
    keep[fut_rows] = False
    booked = fut_rows[first_fut]
    keep[booked] = rng.random(len(booked)) < 0.75
    owner, j, np_visit, day = owner[keep], j[keep], np_visit[keep], day[keep]
    # new-patient visits stay on or after the day the patient was entered; recall visits may move to the
    # Friday before a weekend
    day = business_day(np.where(np_visit, day, np.maximum(weekday_near(rng, day), a_start[owner])))
    n_h = len(owner)
    age_years = (day - birth[owner]) / 365.25
    child = age_years < 14
    perio = people.perio[owner] & ~np_visit
    cleaning = np.where(child, cn["D1120"], np.where(perio, cn["D4910"], cn["D1110"]))
    idx = np.arange(n_h)
    blocks = [
        _block(idx, np.where(np_visit, cn["D0150"], cn["D0120"])),
        _block(idx, cleaning),
        _block(idx[np_visit], cn["D0210"]),
        _block(idx[~np_visit & (j % 2 == 1)], np.where(child[~np_visit & (j % 2 == 1)], cn["D0272"], cn["D0274"])),
        _block(idx[~np_visit & ~child & (j % 8 == 4)], cn["D0330"]),
        _block(idx[age_years < 16], cn["D1206"]),
    ]
    h_procs = _ProcBlock.concat(blocks)
    h_minutes = _round_minutes(np.bincount(h_procs.owner, weights=setup.code_minutes[h_procs.code],
                                           minlength=n_h).astype(np.int64), 30, 120)
    h_hyg = people.sec_prov[owner]
    h_day, h_start = pack(rng, setup.prov_op[h_hyg], day, h_minutes)
    h_status = _status(rng, ctx, h_day, owner)
    h_type = np.where(np_visit, setup.apt_type["new_patient"],
                      np.where(perio, setup.apt_type["perio_maint"], setup.apt_type["hygiene"]))

    # --- 2. emergency visits ---------------------------------------------------------------------------------
    e_end = np.minimum(a_end, ctx.as_of)
    years = np.where(people.end != NEVER, np.maximum(e_end - a_start, 0) / 365.25, 0.0)
    e_owner, _ = expand(rng.poisson(0.06 * years))
    span = np.maximum(e_end[e_owner] - a_start[e_owner], 1)
    e_day = a_start[e_owner] + (rng.random(len(e_owner)) * span).astype(np.int64)
    e_day = business_day(np.maximum(weekday_near(rng, e_day), a_start[e_owner]))
    ok = e_day <= ctx.as_of
    e_owner, e_day = e_owner[ok], e_day[ok]
    n_e = len(e_owner)
    e_idx = np.arange(n_e)
    extra_pa = rng.random(n_e) < 0.35
    e_procs = _ProcBlock.concat([
        _block(e_idx, cn["D0140"]),
        _block(e_idx, cn["D0220"], tooth=_pick(rng, POSTERIOR, n_e)),
        _block(e_idx[extra_pa], cn["D0230"], tooth=_pick(rng, POSTERIOR, extra_pa.sum()),
               qty=rng.integers(1, 3, size=extra_pa.sum())),
        _block(e_idx[rng.random(n_e) < 0.3], cn["D9110"]),
    ])
    e_minutes = _round_minutes(np.bincount(e_procs.owner, weights=setup.code_minutes[e_procs.code],
                                           minlength=n_e).astype(np.int64), 30, 60)
    e_prov = people.pri_prov[e_owner]
    e_day, e_start = pack(rng, setup.prov_op[e_prov], e_day, e_minutes)

    # --- 3. treatment items from completed exams and emergencies ------------------------------------------
    h_done = np.flatnonzero(h_status == APT["Complete"])
    src_pat = np.concatenate([owner[h_done], e_owner])
    src_day = np.concatenate([h_day[h_done], e_day])
    src_end = np.concatenate([h_start[h_done] + h_minutes[h_done], e_start + e_minutes])
    src_np = np.concatenate([np_visit[h_done], np.zeros(n_e, dtype=bool)])
    src_emerg = np.concatenate([np.zeros(len(h_done), dtype=bool), np.ones(n_e, dtype=bool)])
    n_src = len(src_pat)
    n_items = np.select(
        [src_emerg, src_np],
        [rng.choice([0, 1, 2], p=[0.3, 0.6, 0.1], size=n_src), rng.choice([0, 1, 2, 3], p=[0.3, 0.3, 0.25, 0.15],
                                                                            size=n_src)],
        rng.choice([0, 1, 2, 3], p=[0.68, 0.2, 0.09, 0.03], size=n_src))
    it_src, it_rank = expand(n_items)
    n_it = len(it_src)
    it_pat = src_pat[it_src]
    it_age = (src_day[it_src] - birth[it_pat]) / 365.25
    it_child = it_age < 14
    it_emerg = src_emerg[it_src]
    adult_w = np.array([50, 0, 16, 5, 6, 6, 2, 4, 2, 2], dtype=np.float64)  # by kind FILL..BLEACH
    kind = np.where(
        it_emerg,
        np.where(it_child, _pick(rng, [FILL, EXT], n_it), _pick(rng, [RCT, EXT, FILL, CROWN], n_it,
                                                                     p=[35, 35, 20, 10])),
        np.where(it_child, _pick(rng, [FILL, SEAL, EXT], n_it, p=[55, 35, 10]),
                 _pick(rng, np.arange(10), n_it, p=adult_w)))
    kind = np.where((kind == SRP) & people.perio[it_pat], FILL, kind)
    kind = np.where((kind == DENTURE) & (it_age < 55), CROWN, kind)
    kind = np.where(src_np[it_src] & ~it_child & ~it_emerg & (kind == FILL) & (rng.random(n_it) < 0.1), SRP, kind)
    it_procs = _item_procedures(rng, cn, kind)

    # dispositions
    first_code = np.zeros(n_it, dtype=np.int64)  # the first procedure of each item
    first_row = group_firsts(it_procs.owner)
    first_code[it_procs.owner[first_row]] = it_procs.code[first_row]
    u = rng.random(n_it)
    referred = (((first_code == cn["D3330"]) & (u < 0.5)) | ((first_code == cn["D7240"]) & (u < 0.7))
                | ((kind == IMPLANT) & (u < 0.5)))
    accept_p = np.where(it_emerg, 0.9, np.where(src_np[it_src], 0.65, 0.6))
    accepted = ~referred & (rng.random(n_it) < accept_p)
    lag = np.where(it_emerg, rng.integers(1, 11, size=n_it), rng.integers(10, 51, size=n_it)) + 14 * it_rank
    r_day0 = business_day(np.maximum(weekday_near(rng, src_day[it_src] + lag), src_day[it_src] + 1))
    accepted &= (r_day0 <= ctx.horizon - 14) & (r_day0 <= a_end[it_pat])  # booked while still a patient
    planned = ~referred & ~accepted & (rng.random(n_it) < 0.5)
    item_minutes = np.bincount(it_procs.owner, weights=setup.code_minutes[it_procs.code],
                               minlength=n_it).astype(np.int64)

    # restorative appointments (one per accepted item), packed with the emergencies on dentist operatories
    r_items = np.flatnonzero(accepted)
    n_r = len(r_items)
    r_pat = it_pat[r_items]
    r_prov = people.pri_prov[r_pat]
    r_minutes = _round_minutes(item_minutes[r_items], 30, 180)
    d_op = setup.prov_op[np.concatenate([e_prov, r_prov])]
    d_day, d_start = pack(rng, d_op, np.concatenate([e_day, r_day0[r_items]]),
                          np.concatenate([e_minutes, r_minutes]),
                          pinned=np.concatenate([np.ones(n_e, dtype=bool), np.zeros(n_r, dtype=bool)]))
    e_start = d_start[:n_e]
    r_day, r_start = d_day[n_e:], d_start[n_e:]
    r_status = _status(rng, ctx, r_day, r_pat)
    p_items = np.flatnonzero(planned)
    n_p = len(p_items)

    # --- 4. all appointments: hygiene, emergency, restorative, planned ----------------------------------
    seg = np.concatenate([np.full(n_h, 0), np.full(n_e, 1), np.full(n_r, 2), np.full(n_p, 3)])
    a_pat = np.concatenate([owner, e_owner, r_pat, it_pat[p_items]])
    a_day = np.concatenate([h_day, e_day, r_day, src_day[it_src[p_items]]])
    a_start_min = np.concatenate([h_start, e_start, r_start, src_end[it_src[p_items]]])
    a_minutes = np.concatenate([h_minutes, e_minutes, r_minutes, _round_minutes(item_minutes[p_items], 30, 180)])
    a_status = np.concatenate([h_status, np.full(n_e, APT["Complete"]), r_status, np.full(n_p, APT["Planned"])])
    a_prov = people.pri_prov[a_pat]
    a_hyg = np.concatenate([h_hyg, np.zeros(n_e + n_r + n_p, dtype=np.int64)])
    a_op = np.where(seg == 0, setup.prov_op[a_hyg], np.where(seg == 3, 0, setup.prov_op[a_prov]))
    a_type = np.concatenate([h_type, np.full(n_e, setup.apt_type["emergency"]),
                             np.array([setup.apt_type[KIND_APT_TYPE[k]] for k in range(10)])[kind[r_items]],
                             np.array([setup.apt_type[KIND_APT_TYPE[k]] for k in range(10)])[kind[p_items]]])
    a_new = np.concatenate([np_visit, np.zeros(n_e + n_r + n_p, dtype=bool)])
    n_a = len(a_pat)
    # created: hygiene visits booked 1-26 weeks ahead (not before the patient existed), emergencies the
    # same morning, restorative and planned ones at the end of the exam that found the treatment
    lead = rng.integers(7, 183, size=n_h)
    h_created_day = np.clip(h_day - lead, people.entry[owner], np.minimum(h_day, ctx.as_of))
    created = np.concatenate([
        np.where(h_created_day == h_day, ts(h_day, 7 * 3600 + rng.integers(0, 3600, size=n_h)),
                 ctx.clock(h_created_day)),
        ts(e_day, 7 * 3600 + rng.integers(0, 3600, size=n_e)),
        ts(src_day[it_src[r_items]], src_end[it_src[r_items]] * 60 + rng.integers(0, 600, size=n_r)),
        ts(src_day[it_src[p_items]], src_end[it_src[p_items]] * 60 + rng.integers(0, 600, size=n_p)),
    ])
    created = ctx.stamp(created)
    apt_order = key_order(created, np.arange(n_a))
    apt_num = primary_keys(apt_order)  # internal index -> AptNum
    h_num, e_num = apt_num[:n_h], apt_num[n_h:n_h + n_e]
    r_num, p_num = apt_num[n_h + n_e:n_h + n_e + n_r], apt_num[n_h + n_e + n_r:]

    # --- 5. procedures ----------------------------------------------------------------------------------------
    it_apt = np.zeros(n_it, dtype=np.int64)
    it_apt[r_items] = r_num
    it_planned = np.zeros(n_it, dtype=np.int64)
    it_planned[p_items] = p_num
    it_status = np.full(n_it, PROC["TP"])
    it_status[referred] = PROC["R"]
    it_rstatus = np.zeros(n_it, dtype=np.int64)
    it_rstatus[r_items] = r_status
    it_status[accepted & (it_rstatus == APT["Complete"])] = PROC["C"]
    it_date = src_day[it_src].copy()
    it_date[r_items] = r_day  # attached procedures carry their appointment's date
    it_created = ts(src_day[it_src], src_end[it_src] * 60 + rng.integers(0, 600, size=n_it))
    it_priority = np.select(
        [it_emerg, np.isin(kind, [CROWN, RCT, EXT, SRP]), np.isin(kind, [GUARD, BLEACH, DENTURE, IMPLANT])],
        [setup.defs[("TxPriorities", "urgent")], setup.defs[("TxPriorities", "soon")],
         setup.defs[("TxPriorities", "elective")]], 0)

    h_status_proc = np.where(h_status == APT["Complete"], PROC["C"], PROC["TP"])
    # existing restorations charted at completed new-patient visits
    np_done = np.flatnonzero(np_visit & (h_status == APT["Complete"]))
    ec_count = np.where(rng.random(len(np_done)) < 0.45, rng.integers(1, 4, size=len(np_done)), 0)
    ec_visit, _ = expand(ec_count)
    ec_visit = np_done[ec_visit]
    n_ec = len(ec_visit)
    ec_code = _pick(rng, [cn["D2391"], cn["D2392"], cn["D2740"], cn["D2750"], cn["D3330"], cn["D2140"]], n_ec,
                    p=[30, 25, 15, 10, 5, 15])

    parts = {
        "pat": [owner[h_procs.owner], e_owner[e_procs.owner], it_pat[it_procs.owner], owner[ec_visit]],
        "apt": [h_num[h_procs.owner], e_num[e_procs.owner], it_apt[it_procs.owner], np.zeros(n_ec, np.int64)],
        "planned": [np.zeros(len(h_procs.code), np.int64), np.zeros(len(e_procs.code), np.int64),
                    it_planned[it_procs.owner], np.zeros(n_ec, np.int64)],
        "code": [h_procs.code, e_procs.code, it_procs.code, ec_code],
        "tooth": [h_procs.tooth, e_procs.tooth, it_procs.tooth, _pick(rng, POSTERIOR, n_ec)],
        "surf": [h_procs.surf, e_procs.surf, it_procs.surf, np.where(
            ec_code == cn["D2391"], _SURF["O"], np.where(np.isin(ec_code, [cn["D2392"], cn["D2140"]]),
                                                         _SURF["MO"], 0))],
        "qty": [h_procs.qty, e_procs.qty, it_procs.qty, np.ones(n_ec, np.int64)],
        "base": [h_procs.base, e_procs.base, it_procs.base, np.zeros(n_ec, np.int64)],
        "status": [h_status_proc[h_procs.owner], np.full(len(e_procs.code), PROC["C"]),
                   it_status[it_procs.owner], np.full(n_ec, PROC["EC"])],
        "date": [h_day[h_procs.owner], e_day[e_procs.owner], it_date[it_procs.owner], h_day[ec_visit]],
        "date_tp": [h_created_day[h_procs.owner], e_day[e_procs.owner], src_day[it_src[it_procs.owner]],
                    h_day[ec_visit]],
        "created": [created[:n_h][h_procs.owner], created[n_h:n_h + n_e][e_procs.owner],
                    it_created[it_procs.owner], ts(h_day[ec_visit], h_start[ec_visit] * 60 + 600)],
        "priority": [np.zeros(len(h_procs.code), np.int64), np.zeros(len(e_procs.code), np.int64),
                     it_priority[it_procs.owner], np.zeros(n_ec, np.int64)],
        "referred_to": [np.full(len(h_procs.code), -1), np.full(len(e_procs.code), -1),
                        np.where(it_status[it_procs.owner] == PROC["R"],
                                 np.where(kind[it_procs.owner] == RCT, 0, 1), -1),
                        np.full(n_ec, -1)],
    }
    p = {k: np.concatenate(v).astype(np.int64) for k, v in parts.items()}
    # a few completed procedures were entered twice and the copy deleted
    dup = np.flatnonzero((p["status"] == PROC["C"]) & (rng.random(len(p["status"])) < 0.008))
    for k in p:
        extra = p[k][dup].copy()
        if k == "status":
            extra[:] = PROC["D"]
        elif k in ("apt", "planned"):
            extra[:] = 0
        elif k == "created":
            extra += 60
        elif k == "referred_to":
            extra[:] = -1
        p[k] = np.concatenate([p[k], extra])
    n_proc = len(p["pat"])
    p["created"] = ctx.stamp(p["created"])
    proc_order = key_order(p["created"], np.arange(n_proc))
    for k in p:
        p[k] = p[k][proc_order]
    proc_num = np.arange(1, n_proc + 1)

    # appointment facts per procedure (0 when unattached)
    a_of = np.zeros(n_a + 1, dtype=np.int64)
    a_of[apt_num] = np.arange(n_a)
    attached = p["apt"] > 0
    ai = a_of[p["apt"]]
    is_hyg_code = setup.code_hygiene[p["code"]]
    apt_hyg_by_num = np.zeros(n_a + 1, dtype=np.int64)
    apt_hyg_by_num[apt_num] = a_hyg
    prov = np.where(is_hyg_code, np.where(attached & (apt_hyg_by_num[p["apt"]] > 0), apt_hyg_by_num[p["apt"]],
                                          people.sec_prov[p["pat"]]), people.pri_prov[p["pat"]])
    units = p["qty"] + p["base"]
    fee = _proc_fees(ctx, setup, people, p["pat"], p["code"])
    fee[p["status"] == PROC["EC"]] = 0
    done = p["status"] == PROC["C"]
    start_sec = np.where(done & attached, a_start_min[ai] * 60, 0)
    end_sec = np.where(done & attached, (a_start_min[ai] + a_minutes[ai]) * 60, 0)
    completed_ts = ts(p["date"], np.where(attached, (a_start_min[ai] + a_minutes[ai]) * 60, 17 * 3600))
    stamp = np.where(done, completed_ts, p["created"] + np.where(p["status"] == PROC["D"], 3600, 0))
    prosth = np.isin(p["code"], [setup.code_num[c.code] for c in ref.CODES if c.prosth])
    replacement = prosth & (rng.random(n_proc) < 0.2)
    clinic = people.clinic[p["pat"]]
    tooth_str = pc.if_else(pa.array(p["tooth"] > 0), pa.array(p["tooth"]).cast(pa.string()), "")
    ctx.put("procedurelog", n_proc, {
        "ProcNum": proc_num,
        "PatNum": p["pat"] + 1,
        "AptNum": p["apt"],
        "ProcDate": p["date"],
        "ProcFee": fee / 100.0,
        "Surf": strings(SURFS, p["surf"]),
        "ToothNum": tooth_str,
        "Priority": p["priority"],
        "ProcStatus": p["status"],
        "ProvNum": prov,
        "PlannedAptNum": p["planned"],
        "Prosthesis": np.where(prosth, np.where(replacement, "R", "I"), ""),
        "DateOriginalProsth": np.where(replacement, p["date"] - rng.integers(5 * 365, 20 * 365, size=n_proc),
                                       ZERO_DAY),
        "DateEntryC": np.where(done, p["date"], p["created"] // DAY),
        "ClinicNum": clinic,
        "CodeNum": p["code"],
        "UnitQty": p["qty"],
        "BaseUnits": p["base"],
        "DateTP": p["date_tp"],
        "ProcTime": start_sec,
        "ProcTimeEnd": end_sec,
        "DateTStamp": ctx.stamp(stamp),
        "IcdVersion": 10,
        "SecUserNumEntry": setup.prov_user[prov],
        "SecDateEntry": p["created"],
        "DateComplete": np.where(done, p["date"], ZERO_DAY),
    })

    # --- 6. the appointment table ------------------------------------------------------------------------------
    a_rows = apt_order  # internal indices in AptNum order
    _appointment_table(ctx, setup, people, rng, a_rows, apt_num, a_pat, a_status, a_day, a_start_min, a_minutes,
                       a_prov, a_hyg, a_op, a_type, a_new, seg, created, proc_num, p)

    # --- 7. first visits, recalls ---------------------------------------------------------------------------
    pv = people.patient_values
    done_apt = a_status == APT["Complete"]
    first_done = np.full(people.n, np.iinfo(np.int64).max)
    np.minimum.at(first_done, a_pat[done_apt], a_day[done_apt])
    last_done_ts = np.full(people.n, np.iinfo(np.int64).min)
    np.maximum.at(last_done_ts, a_pat[done_apt], ts(a_day[done_apt], (a_start_min[done_apt] + a_minutes[done_apt])
                                                   * 60))
    visited = first_done < np.iinfo(np.int64).max
    pv["DateFirstVisit"] = np.where(new, np.where(visited, first_done, ZERO_DAY), pv["DateFirstVisit"])
    pv["DateTStamp"] = ctx.stamp(np.maximum(pv["DateTStamp"], last_done_ts))
    _recalls(ctx, setup, people, rng, owner, h_day, h_status, h_start, h_minutes)

    return Clinical(
        procs=Procedures(pat=p["pat"] + 1, apt=p["apt"], code=p["code"], status=p["status"], date=p["date"],
                         fee=fee, units=units, prov=prov, clinic=clinic, created=p["created"], tooth=p["tooth"],
                         referred_to=p["referred_to"]),
        apts=Appointments(pat=a_pat[a_rows] + 1, status=a_status[a_rows], date=a_day[a_rows],
                          start=a_start_min[a_rows], minutes=a_minutes[a_rows], prov=a_prov[a_rows],
                          clinic=people.clinic[a_pat[a_rows]], is_new=a_new[a_rows], created=created[a_rows]),
    )


def _proc_fees(ctx: Context, setup: Setup, people: People, pat: np.ndarray, code: np.ndarray) -> np.ndarray:
    """ProcFee in cents: the patient's fee schedule (else the provider's, Standard); a share
    ``1 - fee_match_rate`` differs (older or negotiated fees), by up to 20%, in whole dollars."""
    rng = ctx.rng
    sched = np.where(people.fee_sched[pat] > 0, people.fee_sched[pat], ref.FEE_STANDARD)
    fee = setup.fee[sched, code].copy()
    off = rng.random(len(fee)) >= ctx.config.fee_match_rate
    factor = rng.uniform(0.8, 1.2, size=len(fee))
    changed = np.rint(fee * factor / 100).astype(np.int64) * 100
    changed = np.where(changed == fee, fee + 500, changed)
    return np.where(off, changed, fee)


def _item_procedures(rng: np.random.Generator, cn: dict[str, int], kind: np.ndarray) -> _ProcBlock:
    """The procedures of each treatment item (owner = item index)."""
    blocks = []
    items = np.arange(len(kind))

    fi = items[kind == FILL]
    codes = np.array([cn[c] for c in ("D2391", "D2392", "D2393", "D2140", "D2150", "D2330", "D2331")])
    nsurf = np.array([1, 2, 3, 1, 2, 1, 2])
    anterior = np.array([False, False, False, False, False, True, True])
    which = rng.choice(7, size=len(fi), p=np.array([30, 25, 8, 5, 5, 15, 12]) / 100)
    post_surfs = {1: ["O", "B", "L"], 2: ["MO", "DO", "OL", "OB"], 3: ["MOD", "MOB", "DOL"]}
    ant_surfs = {1: ["F", "L", "M", "D"], 2: ["MF", "DF", "ML", "DL"]}
    surf = np.zeros(len(fi), dtype=np.int64)
    for k in (1, 2, 3):
        for is_ant, table in ((False, post_surfs), (True, ant_surfs)):
            if k not in table:
                continue
            m = (nsurf[which] == k) & (anterior[which] == is_ant)
            surf[m] = _pick(rng, [_SURF[s] for s in table[k]], m.sum())
    tooth = np.where(anterior[which], _pick(rng, ANTERIOR, len(fi)), _pick(rng, POSTERIOR, len(fi)))
    blocks.append(_block(fi, codes[which], tooth=tooth, surf=surf))

    si = items[kind == SEAL]
    n_seal = rng.integers(2, 5, size=len(si))
    teeth = np.argsort(rng.random((len(si), len(SEALANT_TEETH))), axis=1)[:, :4]
    rows, col = np.nonzero(np.arange(4)[None, :] < n_seal[:, None])
    blocks.append(_block(si[rows], cn["D1351"], tooth=SEALANT_TEETH[teeth[rows, col]]))

    ci = items[kind == CROWN]
    crown_tooth = _pick(rng, POSTERIOR, len(ci))
    blocks.append(_block(ci, np.where(rng.random(len(ci)) < 0.6, cn["D2740"], cn["D2750"]), tooth=crown_tooth))
    bu = rng.random(len(ci)) < 0.6
    blocks.append(_block(ci[bu], cn["D2950"], tooth=crown_tooth[bu]))

    ri = items[kind == RCT]
    kind_tooth = rng.choice(3, size=len(ri), p=[0.25, 0.3, 0.45])
    rct_tooth = np.select([kind_tooth == 0, kind_tooth == 1], [_pick(rng, ANTERIOR, len(ri)),
                                                               _pick(rng, PREMOLARS, len(ri))],
                          _pick(rng, MOLARS, len(ri)))
    blocks.append(_block(ri, np.array([cn["D3310"], cn["D3320"], cn["D3330"]])[kind_tooth], tooth=rct_tooth))

    pi = items[kind == SRP]
    n_quads = np.where(rng.random(len(pi)) < 0.6, 4, 2)
    quads = np.argsort(rng.random((len(pi), 4)), axis=1)
    rows, col = np.nonzero(np.arange(4)[None, :] < n_quads[:, None])
    srp_code = np.where(rng.random(len(pi)) < 0.75, cn["D4341"], cn["D4342"])
    blocks.append(_block(pi[rows], srp_code[rows], surf=np.array([_SURF[q] for q in ("UR", "UL", "LR", "LL")])[
        quads[rows, col]]))

    xi = items[kind == EXT]
    ext = rng.choice(3, size=len(xi), p=[0.65, 0.25, 0.1])
    ext_tooth = np.where(ext == 2, _pick(rng, WISDOM, len(xi)), _pick(rng, POSTERIOR, len(xi)))
    blocks.append(_block(xi, np.array([cn["D7140"], cn["D7210"], cn["D7240"]])[ext], tooth=ext_tooth))
    sed = (ext > 0) & (rng.random(len(xi)) < 0.35)
    blocks.append(_block(xi[sed], cn["D9243"], qty=rng.integers(1, 4, size=sed.sum()), base=1))

    ii = items[kind == IMPLANT]
    blocks.append(_block(ii, cn["D6010"], tooth=_pick(rng, POSTERIOR, len(ii))))
    gi = items[kind == GUARD]
    blocks.append(_block(gi, cn["D9944"], surf=_pick(rng, [_SURF["U"], _SURF["L"]], len(gi))))
    di = items[kind == DENTURE]
    blocks.append(_block(di, _pick(rng, [cn["D5110"], cn["D5213"]], len(di)), surf=_SURF["U"]))
    bi = items[kind == BLEACH]
    blocks.append(_block(np.repeat(bi, 2), cn["D9972"], surf=np.tile([_SURF["U"], _SURF["L"]], len(bi))))
    out = _ProcBlock.concat(blocks)
    order = np.argsort(out.owner, kind="stable")
    return _ProcBlock(*(getattr(out, f)[order] for f in ("owner", "code", "tooth", "surf", "qty", "base")))


def _appointment_table(ctx, setup, people, rng, rows, apt_num, a_pat, a_status, a_day, a_start, a_minutes, a_prov,
                       a_hyg, a_op, a_type, a_new, seg, created, proc_num, p) -> None:
    n = len(rows)
    pat, status, day = a_pat[rows], a_status[rows], a_day[rows]
    start, minutes = a_start[rows], a_minutes[rows]
    start_ts = ts(day, start * 60)
    end_ts = start_ts + minutes * 60
    done = status == APT["Complete"]
    broken = np.isin(status, [APT["Broken"], APT["UnschedList"]])
    sched = status == APT["Scheduled"]
    d = setup.defs
    soon = (day - ctx.as_of) <= 3
    confirmed = np.select(
        [done, broken, sched & soon, sched, status == APT["Planned"]],
        [d[("ApptConfirmed", "arrived")],
         _pick(rng, [d[("ApptConfirmed", "not_called")], d[("ApptConfirmed", "left_message")]], n),
         _pick(rng, [d[("ApptConfirmed", k)] for k in ("texted", "confirmed", "left_message")], n, p=[35, 45, 20]),
         _pick(rng, [d[("ApptConfirmed", k)] for k in ("not_called", "texted")], n, p=[70, 30]),
         d[("ApptConfirmed", "not_called")]], 0)
    unsched = np.where(status == APT["UnschedList"],
                       _pick(rng, [d[("RecallUnschedStatus", k)] for k in ("left_message", "no_answer", "will_call")],
                             n), 0)
    arrived = start_ts - rng.integers(0, 16, size=n) * 60
    seated = start_ts + rng.integers(0, 11, size=n) * 60
    dismissed = end_ts + rng.integers(0, 11, size=n) * 60
    cre = created[rows]
    stamp = np.select([done, broken, sched], [dismissed, start_ts + 900,
                                              np.maximum(cre, ctx.clock(np.full(n, ctx.as_of)) - rng.integers(
                                                  0, 4, size=n) * DAY)], cre)
    # procedure descriptions: the abbreviations of the attached (or planned) procedures, in ProcNum order
    link = np.where(p["apt"] > 0, p["apt"], p["planned"])
    has = link > 0
    order = np.argsort(link[has], kind="stable")
    linked_apt = link[has][order]
    abbr = strings(setup.code_abbr, p["code"][has][order])
    counts = np.bincount(linked_apt, minlength=n + 1)[1:]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    descript = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), abbr), ", ")
    planned = status == APT["Planned"]
    order_planned = np.zeros(n, dtype=np.int64)
    if planned.any():
        pl = np.flatnonzero(planned)
        by_pat = pl[np.argsort(pat[pl], kind="stable")]
        order_planned[by_pat] = rank_within(pat[by_pat]) + 1
    insplan = people.plan[pat]
    ctx.put("appointment", n, {
        "AptNum": np.arange(1, n + 1),
        "PatNum": pat + 1,
        "AptStatus": status,
        "Pattern": _patterns(minutes),
        "Confirmed": confirmed,
        "Op": a_op[rows],
        "ProvNum": a_prov[rows],
        "ProvHyg": a_hyg[rows],
        "AptDateTime": start_ts,
        "UnschedStatus": unsched,
        "IsNewPatient": a_new[rows].astype(np.int64),
        "ProcDescript": descript,
        "ClinicNum": people.clinic[pat],
        "IsHygiene": (seg[rows] == 0).astype(np.int64),
        "DateTStamp": ctx.stamp(stamp),
        "DateTimeArrived": np.where(done, arrived, ZERO_DAY * DAY),
        "DateTimeSeated": np.where(done, seated, ZERO_DAY * DAY),
        "DateTimeDismissed": np.where(done, dismissed, ZERO_DAY * DAY),
        "InsPlan1": insplan,
        "AppointmentTypeNum": a_type[rows],
        "SecUserNumEntry": setup.frontdesk_user[people.clinic[pat]],
        "SecDateTEntry": cre,
        "ItemOrderPlanned": order_planned,
    })


def _patterns(minutes: np.ndarray) -> pa.Array:
    uniq, inverse = dense_codes(minutes, int(minutes.max(initial=0)) + 1)
    return strings([time_pattern(int(m)) for m in uniq], inverse)


def _recalls(ctx, setup, people, rng, owner, h_day, h_status, h_start, h_minutes) -> None:
    """One recall per active patient: due six months (perio: three) after the last hygiene visit."""
    status_code = enum_codes("PatientStatus")
    pats = np.flatnonzero(people.status == status_code["Patient"])
    n = len(pats)
    done = h_status == APT["Complete"]
    last = np.full(people.n, ZERO_DAY, dtype=np.int64)
    np.maximum.at(last, owner[done], h_day[done])
    booked = np.full(people.n, ZERO_DAY, dtype=np.int64)
    fut = h_status == APT["Scheduled"]
    np.maximum.at(booked, owner[fut], h_day[fut])
    age = (ctx.as_of - people.birth[pats]) / 365.25
    rtype = np.where(people.perio[pats], "perio", np.where(age < 14, "child", "prophy"))
    type_num = np.array([setup.recall_type[t] for t in ("prophy", "perio", "child")])
    kind = np.select([rtype == "perio", rtype == "child"], [1, 2], 0)
    months = np.array([6, 3, 6])[kind]
    prev = last[pats]
    has_prev = prev != ZERO_DAY
    due_calc = np.where(has_prev, add_months(np.where(has_prev, prev, 0), months), ZERO_DAY)
    moved = has_prev & (rng.random(n) < 0.05)
    due = np.where(moved, business_day(due_calc + rng.integers(-30, 31, size=n)), due_calc)
    due = np.where(has_prev, due, np.minimum(np.maximum(people.entry[pats], ctx.start), ctx.as_of))
    scheduled = booked[pats]
    overdue = (due < ctx.as_of) & (scheduled == ZERO_DAY)
    d = setup.defs
    recall_status = np.where(overdue & (rng.random(n) < 0.5), _pick(
        rng, [d[("RecallUnschedStatus", k)] for k in ("left_message", "no_answer", "will_call", "postcard")], n), 0)
    interval = np.array([setup.recall_interval[k] for k in ("prophy", "perio", "child")])[kind]
    stamp = np.where(has_prev, ts(np.where(has_prev, prev, 0), 17 * 3600), ctx.clock(np.minimum(people.entry[pats],
                                                                                               ctx.as_of)))
    stamp = np.where(recall_status > 0, np.maximum(stamp, ctx.clock(np.full(n, ctx.as_of)) - rng.integers(
        1, 60, size=n) * DAY), stamp)
    ctx.put("recall", n, {
        "RecallNum": np.arange(1, n + 1),
        "PatNum": pats + 1,
        "DateDueCalc": due_calc,
        "DateDue": due,
        "DatePrevious": prev,
        "RecallInterval": interval,
        "RecallStatus": recall_status,
        "DateTStamp": ctx.stamp(stamp),
        "RecallTypeNum": type_num[kind],
        "DateScheduled": scheduled,
    })
