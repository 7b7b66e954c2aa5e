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


def build_people(ctx: Context, setup: Setup) -> People:
    rng = ctx.rng
    cfg = ctx.config
    status_code = enum_codes("PatientStatus")
    n_total = cfg.patients
    n_dup = max(1, n_total // 1000) if n_total >= 100 else 0  # merged duplicates
    n = n_total - n_dup

    # --- families --------------------------------------------------------------------------------------
    sizes = rng.choice([1, 2, 3, 4, 5, 6], p=[0.36, 0.27, 0.16, 0.13, 0.06, 0.02], size=n)
    cum = np.cumsum(sizes)
    n_fam = int(np.searchsorted(cum, n)) + 1
    sizes = sizes[:n_fam].copy()
    sizes[-1] -= int(cum[n_fam - 1]) - n
    fam, member = expand(sizes)
    fam_size = sizes[fam]
    spouse = (member == 1) & (rng.random(n) < np.where(fam_size == 2, 0.75, 0.8))
    role = np.where(member == 0, ROLE_HEAD, np.where(spouse, ROLE_SPOUSE, ROLE_CHILD))
    has_child = np.zeros(n_fam, dtype=bool)
    has_child[fam[role == ROLE_CHILD]] = True

    fam_entry_existing = rng.random(n_fam) < 0.62
    fam_entry = np.where(
        fam_entry_existing,
        rng.integers(ctx.opened + 30, ctx.start, size=n_fam),
        rng.integers(ctx.start, ctx.as_of, size=n_fam),
    )
    order = np.argsort(fam_entry, kind="stable")  # PatNums grow with the day a family joined
    rank = np.empty(n_fam, dtype=np.int64)
    rank[order] = np.arange(n_fam)
    fam_sorted_sizes = sizes[order]
    fam = rank[fam]  # renumber families in joining order ...
    perm = np.argsort(fam * 16 + member, kind="stable")  # ... and lay patients out family by family
    fam, member, role = fam[perm], member[perm], role[perm]
    fam_entry = fam_entry[order]
    has_child = has_child[order]
    fam_size = fam_sorted_sizes[fam]
    head_index = np.cumsum(fam_sorted_sizes) - fam_sorted_sizes
    guarantor = head_index[fam] + 1

    # --- ages, genders ---------------------------------------------------------------------------------
    head_age = np.where(has_child, rng.uniform(27, 57, size=n_fam), np.clip(rng.normal(50, 17, size=n_fam), 19, 92))
    age = np.empty(n)
    is_head = role == ROLE_HEAD
    age[is_head] = head_age[fam[is_head]]
    is_sp = role == ROLE_SPOUSE
    age[is_sp] = np.clip(head_age[fam[is_sp]] + rng.normal(0, 3, size=is_sp.sum()), 19, 95)
    is_ch = role == ROLE_CHILD
    max_child = np.clip(head_age[fam[is_ch]] - 18, 1.5, 25)
    age[is_ch] = 1 + rng.random(is_ch.sum()) * (max_child - 1)
    birth = ctx.as_of - np.rint(age * 365.25).astype(np.int64)
    head_gender = rng.integers(0, 2, size=n_fam)
    gender = rng.integers(0, 2, size=n)
    gender[is_head] = head_gender[fam[is_head]]
    gender[is_sp] = np.where(rng.random(is_sp.sum()) < 0.95, 1 - head_gender[fam[is_sp]], head_gender[fam[is_sp]])
    gender[is_ch & (rng.random(n) < 0.004)] = 2  # Unknown
    entry = np.maximum(fam_entry[fam], birth + 365)

    # --- status, churn, clinic and providers -------------------------------------------------------------
    churns = rng.random(n_fam) < 0.22
    lo = np.maximum(fam_entry + 60, ctx.start - 3 * 365)
    hi = ctx.as_of - 150
    churn_day = np.where(churns & (lo < hi), lo + (rng.random(n_fam) * np.maximum(hi - lo, 1)).astype(np.int64),
                         ctx.horizon)
    churned = churn_day < ctx.horizon
    nonpatient_head = has_child & (fam_sorted_sizes >= 2) & (rng.random(n_fam) < 0.06)
    status = np.full(n, status_code["Patient"])
    status[churned[fam]] = status_code["Inactive"]
    status[churned[fam] & (churn_day[fam] < ctx.as_of - 2 * 365)] = status_code["Archived"]
    nonpatient = is_head & nonpatient_head[fam]
    status[nonpatient] = status_code["NonPatient"]
    end = churn_day[fam].copy()
    end[nonpatient] = NEVER

    clinic = 1 + rng.choice(len(setup.clinic_share), p=setup.clinic_share, size=n_fam)
    fam_clinic = clinic
    pri_prov = np.zeros(n_fam, dtype=np.int64)
    sec_prov = np.zeros(n, dtype=np.int64)
    for c in range(len(setup.clinic_share)):
        in_c = fam_clinic == c + 1
        pri_prov[in_c] = rng.choice(setup.clinic_dentists[c], size=in_c.sum())
        pats_c = in_c[fam]
        sec_prov[pats_c] = rng.choice(setup.clinic_hygienists[c], size=pats_c.sum())
    perio = (age >= 35) & (rng.random(n) < 0.15)

    # --- insurance -------------------------------------------------------------------------------------
    insured_fam = rng.random(n_fam) < cfg.insurance_rate
    fam_plan = np.where(insured_fam, 1 + rng.choice(len(setup.plan_weight) - 1, size=n_fam,
                                                     p=setup.plan_weight[1:] / setup.plan_weight[1:].sum()), 0)
    # about one insured family in eight also has a second plan (the spouse's employer, else the head's
    # second job): a different plan of another subscriber, Ordinal 2 on every covered member's patplan
    n_plans = len(setup.plan_weight) - 1
    has_sec_fam = insured_fam & (rng.random(n_fam) < SECONDARY_RATE) & (n_plans > 1)
    fam_plan2 = np.where(has_sec_fam, 1 + (fam_plan - 1 + rng.integers(1, max(n_plans, 2), size=n_fam))
                         % max(n_plans, 1), 0)
    second_member = np.minimum(head_index + 1, n - 1)
    fam_spouse = (fam_sorted_sizes >= 2) & (role[second_member] == ROLE_SPOUSE)
    sub_fams = np.flatnonzero(insured_fam)
    sec_fams = np.flatnonzero(has_sec_fam)
    n_sub1 = len(sub_fams)
    n_sub = n_sub1 + len(sec_fams)
    fam_inssub = np.zeros(n_fam, dtype=np.int64)
    fam_inssub[sub_fams] = np.arange(1, n_sub1 + 1)
    fam_inssub2 = np.zeros(n_fam, dtype=np.int64)
    fam_inssub2[sec_fams] = np.arange(n_sub1 + 1, n_sub + 1)
    all_subs = np.concatenate([sub_fams, sec_fams])
    sub_effective = np.minimum(fam_entry[all_subs], ctx.start) - rng.integers(0, 700, size=n_sub)
    sub_entry_day = np.minimum(fam_entry[all_subs], ctx.as_of)
    subscriber = head_index[all_subs] + 1
    sec_by_spouse = fam_spouse[sec_fams]
    subscriber[n_sub1:] += sec_by_spouse  # the spouse (the member after the head) subscribes the second plan
    ctx.put("inssub", n_sub, {
        "InsSubNum": np.arange(1, n_sub + 1),
        "PlanNum": np.concatenate([fam_plan[sub_fams], fam_plan2[sec_fams]]),
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
    plan = fam_plan[fam]
    inssub = fam_inssub[fam]
    has_plan = (plan > 0) & ~nonpatient
    plan = np.where(has_plan, plan, 0)
    inssub = np.where(has_plan, inssub, 0)
    has_plan2 = has_plan & (fam_plan2[fam] > 0)
    plan2 = np.where(has_plan2, fam_plan2[fam], 0)
    inssub2 = np.where(has_plan2, fam_inssub2[fam], 0)
    fam_sub2_spouse = np.zeros(n_fam, dtype=bool)
    fam_sub2_spouse[sec_fams] = sec_by_spouse
    pp_pat = np.concatenate([np.flatnonzero(has_plan), np.flatnonzero(has_plan2)])
    pp_ord = np.concatenate([np.ones(int(has_plan.sum()), np.int64), np.full(int(has_plan2.sum()), 2)])
    pp_sort = key_order(pp_pat, pp_ord)
    pp_pat, pp_ord = pp_pat[pp_sort], pp_ord[pp_sort]
    n_pp = len(pp_pat)
    relat = enum_codes("Relat")
    pp_role = role[pp_pat]
    # relationship to the subscriber: when the spouse subscribes the second plan, head and spouse swap
    swapped = (pp_ord == 2) & fam_sub2_spouse[fam[pp_pat]]
    pp_relat = np.where(pp_role == ROLE_CHILD, relat["Child"],
                        np.where((pp_role == ROLE_HEAD) != swapped, relat["Self"], relat["Spouse"]))
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
    fee_sched = np.where(~insured_fam & (rng.random(n_fam) < 0.04), ref.FEE_CASH, 0)[fam]

    # --- names, addresses, contact details: Faker pools sampled with ctx.people_rng ------------------------
    adult = age >= 18
    who = _identities(ctx.people_rng, identity.faker_pools(cfg.seed), fam, n_fam, is_sp, gender, adult)
    pat_num = np.arange(1, n + 1)
    contact = enum_codes("ContactMethod")
    prefer_contact = np.where(adult, rng.choice([contact["WirelessPh"], contact["HmPhone"], contact["Email"]],
                                                p=[0.6, 0.25, 0.15], size=n), contact["None"])
    position_code = enum_codes("PatientPosition")
    fam_has_spouse = np.zeros(n_fam, dtype=bool)
    fam_has_spouse[fam[is_sp]] = True
    alone = is_head & ~fam_has_spouse[fam]
    position = np.full(n, position_code["Single"])
    position[(is_head & fam_has_spouse[fam]) | is_sp] = position_code["Married"]
    position[is_ch & (age < 18)] = position_code["Child"]
    position[alone & (age >= 70)] = position_code["Widowed"]
    position[alone & (age < 70) & (rng.random(n) < 0.2)] = position_code["Divorced"]

    # --- merged duplicates: a patient entered twice, merged into the original -----------------------------
    if n_dup:
        cand = np.flatnonzero(status == status_code["Patient"])
        target = rng.choice(cand, size=n_dup, replace=False) if len(cand) >= n_dup else rng.integers(0, n, n_dup)
        target = np.sort(target)
        dup_entry = entry[target] + (rng.random(n_dup) * np.maximum(ctx.as_of - entry[target], 1)).astype(np.int64)
        dup_pat = np.arange(n + 1, n_total + 1)
        link_day = np.minimum(dup_entry + rng.integers(1, 30, size=n_dup), ctx.as_of)
        ctx.put("patientlink", n_dup, {
            "PatientLinkNum": np.arange(1, n_dup + 1),
            "PatNumFrom": dup_pat,
            "PatNumTo": target + 1,
            "LinkType": enum_codes("PatientLinkType")["Merge"],
            "DateTimeLink": ctx.stamp(ctx.clock(link_day)),
        })

        def extend(arr, dup_values):
            return np.concatenate([arr, dup_values])

        guarantor = extend(guarantor, dup_pat)
        role = extend(role, np.full(n_dup, ROLE_HEAD))
        birth = extend(birth, birth[target])
        gender = extend(gender, gender[target])
        status = extend(status, np.full(n_dup, status_code["Archived"]))
        entry = extend(entry, dup_entry)
        end = extend(end, np.full(n_dup, NEVER))
        perio = extend(perio, np.zeros(n_dup, dtype=bool))
        plan = extend(plan, np.zeros(n_dup, dtype=np.int64))
        inssub = extend(inssub, np.zeros(n_dup, dtype=np.int64))
        plan2 = extend(plan2, np.zeros(n_dup, dtype=np.int64))
        inssub2 = extend(inssub2, np.zeros(n_dup, dtype=np.int64))
        fee_sched = extend(fee_sched, np.zeros(n_dup, dtype=np.int64))
        sec_prov = extend(sec_prov, sec_prov[target])
        fam_ext = extend(fam, fam[target])
        age = extend(age, age[target])
        position = extend(position, position[target])
        prefer_contact = extend(prefer_contact, prefer_contact[target])
        tgt = pa.array(target)
        who = {k: pa.concat_arrays([v, v.take(tgt)]) if isinstance(v, pa.Array) else extend(v, v[target])
               for k, v in who.items()}
        pat_num = np.arange(1, n_total + 1)
    else:
        fam_ext = fam
    n = n_total
    clinic_p = fam_clinic[fam_ext]
    sub2_is_spouse = fam_sub2_spouse[fam_ext] & (plan2 > 0)
    pri_prov_p = pri_prov[fam_ext]

    is_guar = guarantor == pat_num
    yn = enum_codes("YN")
    values: dict[str, object] = {
        "PatNum": pat_num,
        "LName": who["LName"],
        "FName": who["FName"],
        "MiddleI": who["MiddleI"],
        "PatStatus": status,
        "Gender": gender,
        "Position": position,
        "Birthdate": birth,
        "Address": who["Address"],
        "City": strings(setup.zip_city, who["zip"]),
        "State": ref.STATE,
        "Zip": strings(setup.zip_digits, who["zip"]),
        "HmPhone": who["HmPhone"],
        "WirelessPhone": who["WirelessPhone"],
        "Guarantor": guarantor,
        "Email": who["Email"],
        "PriProv": pri_prov_p,
        "SecProv": sec_prov,
        "FeeSched": fee_sched,
        "BillingType": np.full(n, setup.defs[("BillingTypes", "standard")]),
        "ImageFolder": pc.binary_join_element_wise(
            *(pc.replace_substring_regex(who[k], "[^A-Za-z]", "") for k in ("LName", "FName")),
            pa.array(pat_num).cast(pa.string()), ""),
        "StudentStatus": np.where((role == ROLE_CHILD) & (age >= 18) & (age < 24), "F", ""),
        "EmployerNum": np.where(is_guar & (plan > 0), setup.plan_employer[plan], 0),
        "ClinicNum": clinic_p,
        "HasIns": np.where(plan > 0, "I", ""),
        "Premed": ((age >= 50) & (rng.random(n) < 0.03)).astype(np.int64),
        "PreferConfirmMethod": np.where(prefer_contact == contact["WirelessPh"], contact["TextMessage"],
                                        prefer_contact),
        "PreferContactMethod": prefer_contact,
        "PreferRecallMethod": np.where(prefer_contact == contact["WirelessPh"], contact["TextMessage"],
                                       prefer_contact),
        "DateFirstVisit": np.where(entry < ctx.start, entry, ZERO_DAY),  # the schedule sets the others
        "DateTStamp": ctx.stamp(ts(entry, 9 * 3600) + rng.integers(0, 8 * 3600, size=n)),
        "TxtMsgOk": np.where(prefer_contact == contact["WirelessPh"], yn["Yes"], yn["Unknown"]),
        "BillingCycleDay": 1,
        "SecUserNumEntry": setup.frontdesk_user[clinic_p],
        "SecDateEntry": entry,
    }
    _patient_notes(ctx, n, entry, age, rng)
    return People(
        n=n, guarantor=guarantor, role=role, birth=birth, gender=gender, status=status, clinic=clinic_p,
        pri_prov=pri_prov_p, sec_prov=sec_prov, entry=entry, end=end, perio=perio, plan=plan, inssub=inssub,
        plan2=plan2, inssub2=inssub2, sub2_is_spouse=sub2_is_spouse, fee_sched=fee_sched, patient_values=values,
    )


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
    has_note = (age >= 12) & (rng.random(n) < 0.08)
    note_idx = rng.integers(0, len(ref.MEDICAL_NOTES), size=n)
    medical = pc.if_else(pa.array(has_note), strings(ref.MEDICAL_NOTES, note_idx), "")
    created = ctx.stamp(ts(np.minimum(entry, ctx.as_of), 9 * 3600) + rng.integers(0, 8 * 3600, size=n))
    ctx.put("patientnote", n, {
        "PatNum": np.arange(1, n + 1),
        "Medical": medical,
        "OrthoMonthsTreatOverride": -1,
        "SecDateTEntry": created,
        "SecDateTEdit": created,
    })

