"""Patients in families, their insurance (inssub, patplan), patient notes and merged duplicates.

A family is a guarantor (its head, PatNum = Guarantor) with a spouse and children. Families are
numbered in the order they joined the practice. About 62% of families joined before ``start``; the
rest join during the simulated years. Some families leave (inactive or archived) and stop visiting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import identity
from . import reference as ref
from .columns import strings
from .context import Context
from .practice import Setup, enum_codes
from .util import ZERO_DAY, expand, key_order, ts

ROLE_HEAD, ROLE_SPOUSE, ROLE_CHILD = 0, 1, 2
NEVER = np.iinfo(np.int64).min // 4  # an "end" day before anything: the patient never visits
SECONDARY_RATE = 0.12  # share of insured families with a second plan (patplan Ordinal 2)
OWN_NAME_RATE = 0.1  # spouses who kept their own last name
MIDDLE_INITIAL_RATE = 0.4  # patients with a middle initial
EMAIL_RATE = 0.7  # adults with an e-mail address
# families
DUPLICATE_EVERY = 1000  # one merged duplicate patient per this many patients (at least one) ...
DUPLICATE_MIN_PATIENTS = 100  # ... in practices of at least this many patients; smaller ones have none
FAMILY_SIZES = (1, 2, 3, 4, 5, 6)  # members per family (at most 15: patients are laid out by family * 16)
FAMILY_SIZE_SHARES = (0.36, 0.27, 0.16, 0.13, 0.06, 0.02)  # share of families of each of FAMILY_SIZES
SPOUSE_RATE_COUPLE = 0.75  # share of two-member families whose second member is a spouse (else a child)
SPOUSE_RATE_FAMILY = 0.8  # the same for families of three or more
EXISTING_FAMILY_RATE = 0.62  # share of families that joined before ``start``
OPENING_DAYS = 30  # days after the practice opened before the first family joined
# ages and genders (years)
PARENT_HEAD_AGE = (27, 57)  # age of the head of a family with children, uniform [low, high)
HEAD_AGE_MEAN_SD = (50, 17)  # age of the head of a family without children: normal (mean, sd) ...
HEAD_AGE_LIMITS = (19, 92)  # ... clipped to [low, high]
SPOUSE_AGE_SD = 3  # sd of a spouse's age around the head's (normal)
SPOUSE_AGE_LIMITS = (19, 95)  # a spouse's age clipped to [low, high]
PARENT_MIN_AGE = 18  # a child is at most the head's age minus this ...
CHILD_MAX_AGE_LIMITS = (1.5, 25)  # ... clipped to [low, high]
CHILD_MIN_AGE = 1  # a child's age is uniform between this and that maximum
FIRST_ENTRY_AGE = 365  # days: a patient is entered when a year old at the earliest
SPOUSE_OTHER_GENDER_RATE = 0.95  # share of spouses of the other gender than the head
UNKNOWN_GENDER_RATE = 0.004  # share of children with gender Unknown
ADULT_AGE = 18  # adults have a mobile phone, most an e-mail address and a contact preference
STUDENT_AGES = (18, 24)  # children of these ages [low, high) are full-time students (StudentStatus "F")
# status, churn
CHURN_RATE = 0.22  # share of families that leave the practice
CHURN_AFTER_JOIN = 60  # days: a family leaves no sooner than this after joining ...
CHURN_LOOKBACK = 3 * 365  # ... nor more than this many days before ``start`` ...
CHURN_BEFORE_AS_OF = 150  # ... nor later than this many days before as_of
ARCHIVE_AFTER = 2 * 365  # days: families that left longer than this before as_of are Archived (else Inactive)
NONPATIENT_HEAD_RATE = 0.06  # share of heads of families with children who are not patients themselves
PERIO_MIN_AGE = 35  # years: patients on periodontal maintenance are at least this old ...
PERIO_RATE = 0.15  # ... and this share of them are
# insurance
SUB_EFFECTIVE_DAYS = (0, 700)  # days a subscription took effect before the family joined (or ``start``), [low, high)
CASH_FEE_RATE = 0.04  # share of uninsured families on the cash fee schedule (ref.FEE_CASH)
# contact, position, medical
PREFER_CONTACT = {"WirelessPh": 0.6, "HmPhone": 0.25, "Email": 0.15}  # adults' PreferContactMethod: share of each
WIDOWED_AGE = 70  # years: heads living alone this old are Widowed ...
DIVORCED_RATE = 0.2  # ... and this share of the younger ones Divorced (else Single)
DUPLICATE_LINK_DAYS = (1, 30)  # days from entering a duplicate to merging it, [low, high)
PREMED_MIN_AGE = 50  # years: patients who need premedication are at least this old ...
PREMED_RATE = 0.03  # ... and this share of them do
MEDICAL_NOTE_MIN_AGE = 12  # years: patients with a medical alert are at least this old ...
MEDICAL_NOTE_RATE = 0.08  # ... and this share of them have one
ENTRY_HOUR = 9  # a patient (and the note) is entered between this hour ...
ENTRY_SPAN_HOURS = 8  # ... and this many hours later, uniform



def relationship(role: np.ndarray, swapped) -> np.ndarray:
    """OpenDental's Relat of each family member (``role``: ROLE_*) to a plan's subscriber: Self for the
    head, Spouse for the spouse, Child for a child; where ``swapped`` (the spouse subscribes the plan),
    head and spouse swap."""
    relat = enum_codes("Relat")
    return np.where(role == ROLE_CHILD, relat["Child"],
                    np.where((role == ROLE_HEAD) != swapped, relat["Self"], relat["Spouse"]))

@dataclass
class People:
    """Per patient arrays, index = PatNum - 1. Days are day numbers."""

    n: int
    guarantor: np.ndarray  # PatNum of the family head
    role: np.ndarray  # ROLE_*
    birth: np.ndarray
    gender: np.ndarray
    status: np.ndarray  # PatientStatus code
    clinic: np.ndarray
    pri_prov: np.ndarray  # dentist
    sec_prov: np.ndarray  # hygienist
    entry: np.ndarray  # the day the patient was entered
    end: np.ndarray  # last day the patient may have an appointment (NEVER: no visits)
    perio: np.ndarray  # bool: on periodontal maintenance
    plan: np.ndarray  # PlanNum of the primary plan, 0 when uninsured
    inssub: np.ndarray  # InsSubNum, 0 when uninsured
    plan2: np.ndarray  # PlanNum of the secondary plan (patplan Ordinal 2), 0 when none
    inssub2: np.ndarray  # InsSubNum of the secondary plan, 0 when none
    sub2_is_spouse: np.ndarray  # bool: the secondary plan's subscriber is the family's spouse (else the head)
    fee_sched: np.ndarray  # patient.FeeSched (0: the provider's)
    patient_values: dict[str, object]  # the patient table's columns, amended by later stages


@dataclass(frozen=True)
class _Families:
    """Families in joining order (index 0..n_fam-1) and their members laid out family by family
    (per patient arrays, index = PatNum - 1, merged duplicates not yet added)."""

    n_fam: int
    fam: np.ndarray  # per patient: family index
    role: np.ndarray  # per patient: ROLE_*
    guarantor: np.ndarray  # per patient: PatNum of the family head
    sizes: np.ndarray  # per family: members
    entry: np.ndarray  # per family: the day it joined
    has_child: np.ndarray  # per family: bool
    head_index: np.ndarray  # per family: patient index of the head (PatNum - 1)

    @property
    def is_head(self) -> np.ndarray:
        return self.role == ROLE_HEAD

    @property
    def is_spouse(self) -> np.ndarray:
        return self.role == ROLE_SPOUSE

    @property
    def is_child(self) -> np.ndarray:
        return self.role == ROLE_CHILD


@dataclass(frozen=True)
class _FamilyPlans:
    """Per family: insured (bool), PlanNum of the primary plan and of the second plan (0: none)."""

    insured: np.ndarray
    plan: np.ndarray
    has_second: np.ndarray
    plan2: np.ndarray


@dataclass(frozen=True)
class _Insurance:
    """Per patient: PlanNum/InsSubNum of the primary and secondary plans (0: none), patient.FeeSched;
    per family: whether the spouse subscribes the second plan."""

    plan: np.ndarray
    inssub: np.ndarray
    plan2: np.ndarray
    inssub2: np.ndarray
    fee_sched: np.ndarray
    fam_sub2_spouse: np.ndarray


@dataclass(frozen=True)
class _Patients:
    """Per patient arrays (index = PatNum - 1) before the patient table's columns are written; ``fam``
    is the family index, ``age`` in years, ``position``/``prefer_contact`` OpenDental codes."""

    guarantor: np.ndarray
    role: np.ndarray
    birth: np.ndarray
    gender: np.ndarray
    status: np.ndarray
    entry: np.ndarray
    end: np.ndarray
    perio: np.ndarray
    plan: np.ndarray
    inssub: np.ndarray
    plan2: np.ndarray
    inssub2: np.ndarray
    fee_sched: np.ndarray
    sec_prov: np.ndarray
    fam: np.ndarray
    age: np.ndarray
    position: np.ndarray
    prefer_contact: np.ndarray

    @property
    def n(self) -> int:
        return len(self.guarantor)


def build_people(ctx: Context, setup: Setup) -> People:
    """The practice's ``config.patients`` patients (families, merged duplicates last), per patient arrays.

    Writes the tables inssub, patplan, patientlink (merged duplicates) and patientnote; the patient table's
    columns are returned in ``People.patient_values`` for later stages to amend."""
    rng = ctx.rng
    status_code = enum_codes("PatientStatus")
    n_total = ctx.config.patients
    n_dup = max(1, n_total // DUPLICATE_EVERY) if n_total >= DUPLICATE_MIN_PATIENTS else 0  # merged duplicates
    n = n_total - n_dup

    f = _families(ctx, n)
    age = _ages(rng, f)
    birth = ctx.as_of - np.rint(age * 365.25).astype(np.int64)
    gender = _genders(rng, f)
    entry = np.maximum(f.entry[f.fam], birth + FIRST_ENTRY_AGE)
    status, end, nonpatient = _status_and_end(ctx, f, status_code)
    fam_clinic, pri_prov, sec_prov = _providers(rng, setup, f)
    perio = (age >= PERIO_MIN_AGE) & (rng.random(n) < PERIO_RATE)
    ins = _insurance(ctx, setup, f, fam_clinic, nonpatient, entry)

    # names, addresses, contact details: Faker pools sampled with ctx.people_rng
    adult = age >= ADULT_AGE
    who = _identities(ctx.people_rng, identity.faker_pools(ctx.config.seed), f.fam, f.n_fam, f.is_spouse, gender,
                      adult)
    p = _Patients(
        guarantor=f.guarantor, role=f.role, birth=birth, gender=gender, status=status, entry=entry, end=end,
        perio=perio, plan=ins.plan, inssub=ins.inssub, plan2=ins.plan2, inssub2=ins.inssub2,
        fee_sched=ins.fee_sched, sec_prov=sec_prov, fam=f.fam, age=age,
        prefer_contact=_contact_preference(rng, adult), position=_positions(rng, f, age))
    if n_dup:
        target, dup_entry = _merged_duplicates(ctx, p, n_dup, status_code)
        p = _with_duplicates(p, target, dup_entry, status_code)
        who = _with_duplicate_identities(who, target)
    clinic, dentist = fam_clinic[p.fam], pri_prov[p.fam]
    values = _patient_values(ctx, setup, p, who, clinic, dentist)
    _patient_notes(ctx, p.n, p.entry, p.age, rng)
    return People(
        n=p.n, guarantor=p.guarantor, role=p.role, birth=p.birth, gender=p.gender, status=p.status, clinic=clinic,
        pri_prov=dentist, sec_prov=p.sec_prov, entry=p.entry, end=p.end, perio=p.perio, plan=p.plan,
        inssub=p.inssub, plan2=p.plan2, inssub2=p.inssub2, sub2_is_spouse=ins.fam_sub2_spouse[p.fam] & (p.plan2 > 0),
        fee_sched=p.fee_sched, patient_values=values,
    )


def _family_members(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n`` patients in families of FAMILY_SIZES: (members per family, in draw order; per patient the family
    index, the position in the family (0: head) and ROLE_*)."""
    sizes = rng.choice(FAMILY_SIZES, p=FAMILY_SIZE_SHARES, size=n)
    cum = np.cumsum(sizes)
    n_fam = int(np.searchsorted(cum, n)) + 1
    sizes = sizes[:n_fam].copy()
    sizes[-1] -= int(cum[n_fam - 1]) - n
    fam, member = expand(sizes)
    fam_size = sizes[fam]
    spouse = (member == 1) & (rng.random(n) < np.where(fam_size == 2, SPOUSE_RATE_COUPLE, SPOUSE_RATE_FAMILY))
    role = np.where(member == 0, ROLE_HEAD, np.where(spouse, ROLE_SPOUSE, ROLE_CHILD))
    return sizes, fam, member, role


def _join_days(ctx: Context, n_fam: int) -> np.ndarray:
    """The day each family joined (day numbers, per family): EXISTING_FAMILY_RATE of them before ``start``."""
    rng = ctx.rng
    existing = rng.random(n_fam) < EXISTING_FAMILY_RATE
    return np.where(
        existing,
        rng.integers(ctx.opened + OPENING_DAYS, ctx.start, size=n_fam),
        rng.integers(ctx.start, ctx.as_of, size=n_fam),
    )


def _families(ctx: Context, n: int) -> _Families:
    """The families of ``n`` patients, renumbered in the order they joined, members laid out family by family
    (so PatNums grow with the joining day; patient.Guarantor is the head's PatNum)."""
    sizes, fam, member, role = _family_members(ctx.rng, n)
    n_fam = len(sizes)
    has_child = np.zeros(n_fam, dtype=bool)
    has_child[fam[role == ROLE_CHILD]] = True
    fam_entry = _join_days(ctx, n_fam)
    order = np.argsort(fam_entry, kind="stable")  # PatNums grow with the day a family joined
    rank = np.empty(n_fam, dtype=np.int64)
    rank[order] = np.arange(n_fam)
    fam_sorted_sizes = sizes[order]
    fam = rank[fam]  # renumber families in joining order ...
    perm = np.argsort(fam * 16 + member, kind="stable")  # ... and lay patients out family by family
    fam, role = fam[perm], role[perm]
    head_index = np.cumsum(fam_sorted_sizes) - fam_sorted_sizes
    return _Families(n_fam=n_fam, fam=fam, role=role, guarantor=head_index[fam] + 1, sizes=fam_sorted_sizes,
                     entry=fam_entry[order], has_child=has_child[order], head_index=head_index)


def _ages(rng: np.random.Generator, f: _Families) -> np.ndarray:
    """Age on as_of in years (float, per patient): heads by whether they have children, spouses near the
    head's age, children uniform from CHILD_MIN_AGE to the head's age less PARENT_MIN_AGE (clipped)."""
    head_age = np.where(f.has_child, rng.uniform(*PARENT_HEAD_AGE, size=f.n_fam),
                        np.clip(rng.normal(*HEAD_AGE_MEAN_SD, size=f.n_fam), *HEAD_AGE_LIMITS))
    age = np.empty(len(f.fam))
    is_head, is_sp, is_ch = f.is_head, f.is_spouse, f.is_child
    age[is_head] = head_age[f.fam[is_head]]
    age[is_sp] = np.clip(head_age[f.fam[is_sp]] + rng.normal(0, SPOUSE_AGE_SD, size=is_sp.sum()),
                         *SPOUSE_AGE_LIMITS)
    max_child = np.clip(head_age[f.fam[is_ch]] - PARENT_MIN_AGE, *CHILD_MAX_AGE_LIMITS)
    age[is_ch] = CHILD_MIN_AGE + rng.random(is_ch.sum()) * (max_child - CHILD_MIN_AGE)
    return age


def _genders(rng: np.random.Generator, f: _Families) -> np.ndarray:
    """patient.Gender per patient (PatientGender code): spouses mostly of the other gender than the head."""
    is_head, is_sp = f.is_head, f.is_spouse
    head_gender = rng.integers(0, 2, size=f.n_fam)
    gender = rng.integers(0, 2, size=len(f.fam))
    gender[is_head] = head_gender[f.fam[is_head]]
    gender[is_sp] = np.where(rng.random(is_sp.sum()) < SPOUSE_OTHER_GENDER_RATE, 1 - head_gender[f.fam[is_sp]],
                             head_gender[f.fam[is_sp]])
    gender[f.is_child & (rng.random(len(f.fam)) < UNKNOWN_GENDER_RATE)] = enum_codes("PatientGender")["Unknown"]
    return gender


def _status_and_end(ctx: Context, f: _Families,
                    status_code: dict[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per patient: patient.PatStatus, the last day they may have an appointment (the family's churn day,
    ``ctx.horizon`` when it stays, NEVER for non-patient heads) and whether they are a non-patient head."""
    rng = ctx.rng
    churns = rng.random(f.n_fam) < CHURN_RATE
    lo = np.maximum(f.entry + CHURN_AFTER_JOIN, ctx.start - CHURN_LOOKBACK)
    hi = ctx.as_of - CHURN_BEFORE_AS_OF
    churn_day = np.where(churns & (lo < hi), lo + (rng.random(f.n_fam) * np.maximum(hi - lo, 1)).astype(np.int64),
                         ctx.horizon)
    churned = churn_day < ctx.horizon
    nonpatient_head = f.has_child & (f.sizes >= 2) & (rng.random(f.n_fam) < NONPATIENT_HEAD_RATE)
    status = np.full(len(f.fam), status_code["Patient"])
    status[churned[f.fam]] = status_code["Inactive"]
    status[churned[f.fam] & (churn_day[f.fam] < ctx.as_of - ARCHIVE_AFTER)] = status_code["Archived"]
    nonpatient = f.is_head & nonpatient_head[f.fam]
    status[nonpatient] = status_code["NonPatient"]
    end = churn_day[f.fam].copy()
    end[nonpatient] = NEVER
    return status, end, nonpatient


def _providers(rng: np.random.Generator, setup: Setup, f: _Families) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ClinicNum per family by ``setup.clinic_share``, the family's dentist (patient.PriProv) per family,
    the hygienist (patient.SecProv) per patient), providers drawn from the clinic's in proportion to the hours
    a week they work (``Setup.prov_minutes``), so that a part-time provider's chair is as busy as a full-time
    one's."""
    clinic = 1 + rng.choice(len(setup.clinic_share), p=setup.clinic_share, size=f.n_fam)
    pri_prov = np.zeros(f.n_fam, dtype=np.int64)
    sec_prov = np.zeros(len(f.fam), dtype=np.int64)

    def by_hours(provs: np.ndarray, size: int) -> np.ndarray:
        minutes = setup.prov_minutes[provs].sum(axis=1)
        return rng.choice(provs, size=size, p=minutes / minutes.sum())

    for c in range(len(setup.clinic_share)):
        in_c = clinic == c + 1
        pri_prov[in_c] = by_hours(setup.clinic_dentists[c], in_c.sum())
        pats_c = in_c[f.fam]
        sec_prov[pats_c] = by_hours(setup.clinic_hygienists[c], pats_c.sum())
    return clinic, pri_prov, sec_prov


def _insurance(ctx: Context, setup: Setup, f: _Families, fam_clinic: np.ndarray, nonpatient: np.ndarray,
               entry: np.ndarray) -> _Insurance:
    """The families' plans and subscriptions (writes inssub, patplan) and the patients' fee schedules."""
    fp = _family_plans(ctx.rng, ctx.config.insurance_rate, setup, f.n_fam)
    fam_inssub, fam_inssub2, fam_sub2_spouse = _subscriptions(ctx, setup, f, fp, fam_clinic)
    plan, inssub, plan2, inssub2 = _patient_plans(ctx, f, fp, fam_inssub, fam_inssub2, fam_sub2_spouse,
                                                  nonpatient, entry)
    fee_sched = np.where(~fp.insured & (ctx.rng.random(f.n_fam) < CASH_FEE_RATE), ref.FEE_CASH, 0)[f.fam]
    return _Insurance(plan=plan, inssub=inssub, plan2=plan2, inssub2=inssub2, fee_sched=fee_sched,
                      fam_sub2_spouse=fam_sub2_spouse)


def _family_plans(rng: np.random.Generator, insurance_rate: float, setup: Setup, n_fam: int) -> _FamilyPlans:
    """Which families are insured (``insurance_rate``) and with which plan (by ``setup.plan_weight``); about
    one insured family in eight (SECONDARY_RATE) also has a second, different plan (the spouse's employer,
    else the head's second job)."""
    insured = rng.random(n_fam) < insurance_rate
    plan = np.where(insured, 1 + rng.choice(len(setup.plan_weight) - 1, size=n_fam,
                                            p=setup.plan_weight[1:] / setup.plan_weight[1:].sum()), 0)
    n_plans = len(setup.plan_weight) - 1
    has_second = insured & (rng.random(n_fam) < SECONDARY_RATE) & (n_plans > 1)
    plan2 = np.where(has_second, 1 + (plan - 1 + rng.integers(1, max(n_plans, 2), size=n_fam))
                     % max(n_plans, 1), 0)
    return _FamilyPlans(insured=insured, plan=plan, has_second=has_second, plan2=plan2)


def _subscriptions(ctx: Context, setup: Setup, f: _Families, fp: _FamilyPlans,
                   fam_clinic: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Writes inssub: the head subscribes the primary plans, then the second plans (the spouse when there is
    one, else the head). Per family: (InsSubNum of the primary, of the second plan, 0: none; bool: the
    spouse subscribes the second plan)."""
    rng = ctx.rng
    n = len(f.fam)
    second_member = np.minimum(f.head_index + 1, n - 1)
    fam_spouse = (f.sizes >= 2) & (f.role[second_member] == ROLE_SPOUSE)
    sub_fams = np.flatnonzero(fp.insured)
    sec_fams = np.flatnonzero(fp.has_second)
    n_sub1 = len(sub_fams)
    n_sub = n_sub1 + len(sec_fams)
    fam_inssub = np.zeros(f.n_fam, dtype=np.int64)
    fam_inssub[sub_fams] = np.arange(1, n_sub1 + 1)
    fam_inssub2 = np.zeros(f.n_fam, dtype=np.int64)
    fam_inssub2[sec_fams] = np.arange(n_sub1 + 1, n_sub + 1)
    all_subs = np.concatenate([sub_fams, sec_fams])
    sub_effective = np.minimum(f.entry[all_subs], ctx.start) - rng.integers(*SUB_EFFECTIVE_DAYS, size=n_sub)
    sub_entry_day = np.minimum(f.entry[all_subs], ctx.as_of)
    subscriber = f.head_index[all_subs] + 1
    sec_by_spouse = fam_spouse[sec_fams]
    subscriber[n_sub1:] += sec_by_spouse  # the spouse (the member after the head) subscribes the second plan
    ctx.put("inssub", n_sub, {
        "InsSubNum": np.arange(1, n_sub + 1),
        "PlanNum": np.concatenate([fp.plan[sub_fams], fp.plan2[sec_fams]]),
        "Subscriber": subscriber,
        "DateEffective": sub_effective,
        "ReleaseInfo": 1,
        "AssignBen": 1,
        "SubscriberID": pc.binary_join_element_wise(
            "XK", pc.utf8_lpad(pa.array(rng.integers(0, 999_999_999, size=n_sub)).cast(pa.string()), 9, "0"), ""),
        "SecUserNumEntry": setup.frontdesk_user[fam_clinic[all_subs]],
        "SecDateEntry": sub_entry_day,
        "SecDateTEdit": ctx.stamp(ctx.clock(sub_entry_day)),
    })
    fam_sub2_spouse = np.zeros(f.n_fam, dtype=bool)
    fam_sub2_spouse[sec_fams] = sec_by_spouse
    return fam_inssub, fam_inssub2, fam_sub2_spouse


def _patient_plans(ctx: Context, f: _Families, fp: _FamilyPlans, fam_inssub: np.ndarray, fam_inssub2: np.ndarray,
                   fam_sub2_spouse: np.ndarray, nonpatient: np.ndarray,
                   entry: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Writes patplan: every member but a non-patient head is covered by the family's plans (Ordinal 1, 2).
    Per patient: (PlanNum, InsSubNum of the primary; PlanNum, InsSubNum of the secondary), 0: none."""
    fam = f.fam
    has_plan = (fp.plan[fam] > 0) & ~nonpatient
    plan = np.where(has_plan, fp.plan[fam], 0)
    inssub = np.where(has_plan, fam_inssub[fam], 0)
    has_plan2 = has_plan & (fp.plan2[fam] > 0)
    plan2 = np.where(has_plan2, fp.plan2[fam], 0)
    inssub2 = np.where(has_plan2, fam_inssub2[fam], 0)
    pp_pat = np.concatenate([np.flatnonzero(has_plan), np.flatnonzero(has_plan2)])
    pp_ord = np.concatenate([np.ones(int(has_plan.sum()), np.int64), np.full(int(has_plan2.sum()), 2)])
    pp_sort = key_order(pp_pat, pp_ord)
    pp_pat, pp_ord = pp_pat[pp_sort], pp_ord[pp_sort]
    n_pp = len(pp_pat)
    # relationship to the subscriber: when the spouse subscribes the second plan, head and spouse swap
    pp_relat = relationship(f.role[pp_pat], (pp_ord == 2) & fam_sub2_spouse[fam[pp_pat]])
    pp_entry = ctx.stamp(ctx.clock(np.minimum(entry[pp_pat], ctx.as_of)))
    ctx.put("patplan", n_pp, {
        "PatPlanNum": np.arange(1, n_pp + 1),
        "PatNum": pp_pat + 1,
        "Ordinal": pp_ord,
        "Relationship": pp_relat,
        "InsSubNum": np.where(pp_ord == 1, inssub[pp_pat], inssub2[pp_pat]),
        "SecDateTEntry": pp_entry,
        "SecDateTEdit": pp_entry,
    })
    return plan, inssub, plan2, inssub2


def _contact_preference(rng: np.random.Generator, adult: np.ndarray) -> np.ndarray:
    """patient.PreferContactMethod per patient (ContactMethod code): adults by PREFER_CONTACT, children None."""
    contact = enum_codes("ContactMethod")
    return np.where(adult, rng.choice([contact[k] for k in PREFER_CONTACT], p=list(PREFER_CONTACT.values()),
                                      size=len(adult)), contact["None"])


def _positions(rng: np.random.Generator, f: _Families, age: np.ndarray) -> np.ndarray:
    """patient.Position per patient (PatientPosition code): heads and spouses Married, minors Child, heads
    living alone Widowed (from WIDOWED_AGE), Divorced (DIVORCED_RATE) or Single."""
    position_code = enum_codes("PatientPosition")
    is_head, is_sp = f.is_head, f.is_spouse
    fam_has_spouse = np.zeros(f.n_fam, dtype=bool)
    fam_has_spouse[f.fam[is_sp]] = True
    alone = is_head & ~fam_has_spouse[f.fam]
    position = np.full(len(f.fam), position_code["Single"])
    position[(is_head & fam_has_spouse[f.fam]) | is_sp] = position_code["Married"]
    position[f.is_child & (age < ADULT_AGE)] = position_code["Child"]
    position[alone & (age >= WIDOWED_AGE)] = position_code["Widowed"]
    position[alone & (age < WIDOWED_AGE) & (rng.random(len(f.fam)) < DIVORCED_RATE)] = position_code["Divorced"]
    return position


def _merged_duplicates(ctx: Context, p: _Patients, n_dup: int,
                       status_code: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Writes patientlink: ``n_dup`` patients entered twice, the copy (PatNum after the others) merged into
    the original. Returns (original's patient index, sorted; the day the copy was entered) per duplicate."""
    rng = ctx.rng
    n = p.n
    cand = np.flatnonzero(p.status == status_code["Patient"])
    target = rng.choice(cand, size=n_dup, replace=False) if len(cand) >= n_dup else rng.integers(0, n, n_dup)
    target = np.sort(target)
    entry = p.entry
    dup_entry = entry[target] + (rng.random(n_dup) * np.maximum(ctx.as_of - entry[target], 1)).astype(np.int64)
    link_day = np.minimum(dup_entry + rng.integers(*DUPLICATE_LINK_DAYS, size=n_dup), ctx.as_of)
    ctx.put("patientlink", n_dup, {
        "PatientLinkNum": np.arange(1, n_dup + 1),
        "PatNumFrom": np.arange(n + 1, n + n_dup + 1),
        "PatNumTo": target + 1,
        "LinkType": enum_codes("PatientLinkType")["Merge"],
        "DateTimeLink": ctx.stamp(ctx.clock(link_day)),
    })
    return target, dup_entry


def _with_duplicates(p: _Patients, target: np.ndarray, dup_entry: np.ndarray,
                     status_code: dict[str, int]) -> _Patients:
    """``p`` with the merged duplicates appended: archived heads of their own family, never visiting,
    uninsured, otherwise copies of their original (``target``: patient index per duplicate)."""
    n_dup = len(target)

    def extend(arr, dup_values):
        return np.concatenate([arr, dup_values])

    def copied(arr):
        return extend(arr, arr[target])

    def zeros():
        return np.zeros(n_dup, dtype=np.int64)

    return _Patients(
        guarantor=extend(p.guarantor, np.arange(p.n + 1, p.n + n_dup + 1)),
        role=extend(p.role, np.full(n_dup, ROLE_HEAD)), birth=copied(p.birth), gender=copied(p.gender),
        status=extend(p.status, np.full(n_dup, status_code["Archived"])), entry=extend(p.entry, dup_entry),
        end=extend(p.end, np.full(n_dup, NEVER)), perio=extend(p.perio, np.zeros(n_dup, dtype=bool)),
        plan=extend(p.plan, zeros()), inssub=extend(p.inssub, zeros()), plan2=extend(p.plan2, zeros()),
        inssub2=extend(p.inssub2, zeros()), fee_sched=extend(p.fee_sched, zeros()), sec_prov=copied(p.sec_prov),
        fam=copied(p.fam), age=copied(p.age), position=copied(p.position),
        prefer_contact=copied(p.prefer_contact),
    )


def _with_duplicate_identities(who: dict[str, object], target: np.ndarray) -> dict[str, object]:
    """``_identities``' columns with the merged duplicates' (copies of their original's) appended."""
    tgt = pa.array(target)
    return {k: pa.concat_arrays([v, v.take(tgt)]) if isinstance(v, pa.Array) else np.concatenate([v, v[target]])
            for k, v in who.items()}


def _patient_values(ctx: Context, setup: Setup, p: _Patients, who: dict[str, object], clinic: np.ndarray,
                    pri_prov: np.ndarray) -> dict[str, object]:
    """The patient table's columns (one row per patient, PatNum = index + 1); ``clinic``, ``pri_prov`` per
    patient. Texting patients are reminded and confirmed by text."""
    rng = ctx.rng
    n = p.n
    pat_num = np.arange(1, n + 1)
    contact = enum_codes("ContactMethod")
    yn = enum_codes("YN")
    prefer_contact = p.prefer_contact
    age = p.age
    return {
        "PatNum": pat_num,
        "LName": who["LName"],
        "FName": who["FName"],
        "MiddleI": who["MiddleI"],
        "PatStatus": p.status,
        "Gender": p.gender,
        "Position": p.position,
        "Birthdate": p.birth,
        "Address": who["Address"],
        "City": strings(setup.zip_city, who["zip"]),
        "State": ref.STATE,
        "Zip": strings(setup.zip_digits, who["zip"]),
        "HmPhone": who["HmPhone"],
        "WirelessPhone": who["WirelessPhone"],
        "Guarantor": p.guarantor,
        "Email": who["Email"],
        "PriProv": pri_prov,
        "SecProv": p.sec_prov,
        "FeeSched": p.fee_sched,
        "BillingType": np.full(n, setup.defs[("BillingTypes", "standard")]),
        "ImageFolder": pc.binary_join_element_wise(
            *(pc.replace_substring_regex(who[k], "[^A-Za-z]", "") for k in ("LName", "FName")),
            pa.array(pat_num).cast(pa.string()), ""),
        "StudentStatus": np.where((p.role == ROLE_CHILD) & (age >= STUDENT_AGES[0]) & (age < STUDENT_AGES[1]), "F", ""),
        "EmployerNum": np.where((p.guarantor == pat_num) & (p.plan > 0), setup.plan_employer[p.plan], 0),
        "ClinicNum": clinic,
        "HasIns": np.where(p.plan > 0, "I", ""),
        "Premed": ((age >= PREMED_MIN_AGE) & (rng.random(n) < PREMED_RATE)).astype(np.int64),
        "PreferConfirmMethod": np.where(prefer_contact == contact["WirelessPh"], contact["TextMessage"],
                                        prefer_contact),
        "PreferContactMethod": prefer_contact,
        "PreferRecallMethod": np.where(prefer_contact == contact["WirelessPh"], contact["TextMessage"],
                                       prefer_contact),
        "DateFirstVisit": np.where(p.entry < ctx.start, p.entry, ZERO_DAY),  # the schedule sets the others
        "DateTStamp": ctx.stamp(ts(p.entry, ENTRY_HOUR * 3600) + rng.integers(0, ENTRY_SPAN_HOURS * 3600, size=n)),
        "TxtMsgOk": np.where(prefer_contact == contact["WirelessPh"], yn["Yes"], yn["Unknown"]),
        "BillingCycleDay": 1,
        "SecUserNumEntry": setup.frontdesk_user[clinic],
        "SecDateEntry": p.entry,
    }


def _identities(rng: np.random.Generator, pools: identity.Pools, fam: np.ndarray, n_fam: int, is_sp: np.ndarray,
                gender: np.ndarray, adult: np.ndarray) -> dict[str, object]:
    """Who each patient is, drawn from the Faker ``pools`` with ``rng`` (``Context.people_rng``) only.

    ``fam``: family index per patient (0..n_fam-1); ``is_sp``: spouses; ``adult``: 18 or older. A family
    shares its last name (a spouse keeps their own with ``OWN_NAME_RATE``), street address, ZIP code (and
    so town) and home phone; adults have a mobile phone and most (``EMAIL_RATE``) an e-mail address made
    from their names; ``MIDDLE_INITIAL_RATE`` have a middle initial. Returns the patient columns LName,
    FName, MiddleI, Address, HmPhone, WirelessPhone, Email (Arrow strings) and ``zip`` (index into the
    pools' ZIP codes, per patient)."""
    n = len(fam)
    fam_pa = pa.array(fam)
    lname = identity.pick(rng, pools.last, n_fam).take(fam_pa)
    own_name = np.flatnonzero(is_sp & (rng.random(n) < OWN_NAME_RATE))
    if len(own_name):
        own = identity.pick(rng, pools.last, len(own_name))
        lname = pc.replace_with_mask(lname, pa.array(np.isin(np.arange(n), own_name)), own)
    fname = identity.first_names(rng, pools, gender)
    middle = pc.if_else(pa.array(rng.random(n) < MIDDLE_INITIAL_RATE),
                        strings([chr(65 + i) for i in range(26)], rng.integers(0, 26, size=n)), "")
    address = identity.street_addresses(rng, pools, n_fam).take(fam_pa)
    fam_zip = rng.integers(0, len(pools.zip_digits), size=n_fam)[fam]
    home_phone = identity.patient_phones(rng, ref.AREA_CODES, n_fam).take(fam_pa)
    wireless = pc.if_else(pa.array(adult), identity.patient_phones(rng, ref.MOBILE_AREA_CODES, n), "")
    email = pc.if_else(pa.array(adult & (rng.random(n) < EMAIL_RATE)), identity.emails(rng, fname, lname), "")
    return {"LName": lname, "FName": fname, "MiddleI": middle, "Address": address, "HmPhone": home_phone,
            "WirelessPhone": wireless, "Email": email, "zip": fam_zip}


def _patient_notes(ctx: Context, n: int, entry: np.ndarray, age: np.ndarray, rng: np.random.Generator) -> None:
    """One patientnote per patient (OpenDental creates it on first use); a few carry a medical alert."""
    has_note = (age >= MEDICAL_NOTE_MIN_AGE) & (rng.random(n) < MEDICAL_NOTE_RATE)
    note_idx = rng.integers(0, len(ref.MEDICAL_NOTES), size=n)
    medical = pc.if_else(pa.array(has_note), strings(ref.MEDICAL_NOTES, note_idx), "")
    created = ctx.stamp(ts(np.minimum(entry, ctx.as_of), ENTRY_HOUR * 3600)
                       + rng.integers(0, ENTRY_SPAN_HOURS * 3600, size=n))
    ctx.put("patientnote", n, {
        "PatNum": np.arange(1, n + 1),
        "Medical": medical,
        "OrthoMonthsTreatOverride": -1,
        "SecDateTEntry": created,
        "SecDateTEdit": created,
    })

