"""The practice set-up: clinics, providers, operatories, users, definitions, procedure codes, fee
schedules and fees, appointment and recall types, zip codes, carriers, employers, insurance plans
and their benefits, referral sources.

Sizes scale with the number of patients: one clinic below 1,500 patients, two above. A clinic's
dentists and hygienists work the chair days a week its patients need (``PATIENTS_PER_DENTIST_DAY``,
``PATIENTS_PER_HYGIENIST_DAY``), at most ``FULL_TIME_DAYS`` each, so most are part-time, as practices run.
A provider's hours per weekday (``Staff.prov_minutes``) are their ``schedule`` rows and the only times their
operatory is booked (docs/synthetic.md, "Calibration: chair utilization").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dental_assets.catalog import opendental_enums

from . import identity
from . import reference as ref
from .context import Context
from .util import CLOSE_MINUTE, DAY, OFFICE_SECONDS, OPEN_MINUTE, SETUP_SECOND, ts

CAPITATION_PLANS = 1  # non-PPO plans made capitation plans (insplan.PlanType 'c'; none if every plan is PPO)
CAPITATION_STREAM = 8317  # seed offset of the capitation plans' own random stream: every other draw stays
STOCK_DEFINITION_STREAM = 9013  # seed offset of the stock definitions' colours
SETUP_STAMP_STREAM = 9011  # seed offset of the set-up rows' entry and edit moments (fee, feesched, referral)

TWO_CLINICS_FROM = 1500  # patients: a practice this large has two clinics, a smaller one a single clinic
TWO_CLINIC_SHARE = (0.58, 0.42)  # share of the families per clinic when there are two
# Staffing: the chair days a week a clinic's patients need, calibrated so that at 5,000 patients the chairs are
# booked and the providers busy as in real practices. Targets, US industry rules of thumb quoted from memory
# (no web access during the calibration; practice-management consultants' usual figures): hygienists book
# 70-90 % of their chair time and complete 7-9 visits a day, dentists book 60-85 % and see 8-12 patients a
# day; a full-time clinician works 4 chair days a week, and many hygienists (and some dentists) work fewer.
# What the generator's patients need was measured (docs/synthetic.md, "Calibration: chair utilization").
PATIENTS_PER_DENTIST_DAY = 1100  # a clinic gets a weekly dentist chair day per this many patients (any status)
PATIENTS_PER_HYGIENIST_DAY = 330  # ... and a weekly hygienist chair day per this many patients (both rounded up,
#                                   at least one)
FULL_TIME_DAYS = 4  # chair days a week of a full-time dentist or hygienist; a clinic's days are split evenly
#                     over the fewest providers working at most this many
WORKING_WEEKDAYS = 5  # Monday-Friday: the weekdays a provider may be scheduled (weekday 0 = Monday)
SPREAD_WEEKDAYS = (0, 2, 4, 1, 3)  # the order part-time days are handed out in: Monday, Wednesday, Friday,
#                                   Tuesday, Thursday (a three-day part-timer works Monday, Wednesday, Friday)
FULL_DAY_MINUTES = CLOSE_MINUTE - OPEN_MINUTE  # a provider's day: the clinics' hours, 08:00-17:00
PROVIDER_AGE_YEARS = (28, 64)  # a provider's age on as_of, years [low, high) (drawn in days)
LAST_LOGIN_DAYS = (0, 5)  # days before as_of of a user's last login (userod.DateTLastLogin), [low, high)
FEE_REVIEW_DAYS = (0, 30)  # a fee's review day: days after start, [low, high) ...
FEE_REVIEW_LEAD_DAYS = 60  # ... less this many days: its edit day (fee.SecDateTEdit), 31-60 days before start
CARRIER_PO_BOX = (1000, 99999)  # a carrier's PO Box number, [low, high)
CARRIER_PHONE_LINE = (100, 199)  # last four digits of a carrier's 800-555 number, [low, high)
N_PLANS = 14  # insurance plans (insplan rows)
INDIVIDUAL_PLANS = 3  # of them bought by individuals: no employer (the last PlanNums, GroupName "Individual")
PPO_RATE = 0.6  # share of the plans that are PPO (allowed fees from a PPO fee schedule)
PPO_FEE_SCHEDULES = (ref.FEE_PPO_SELECT, ref.FEE_PPO_PLUS)  # a PPO plan's fee schedule, uniform
# per tier (preventive, basic, major): percent of the fee a plan pays, uniform over the list (repeats weigh)
COINSURANCE_PCT = ((100, 100, 100, 90), (80, 80, 70), (50, 50, 60))
DEDUCTIBLE_DOLLARS = (25, 50, 50, 75)  # a plan's calendar-year deductible per person, uniform over the list
ANNUAL_MAX_DOLLARS = (1000, 1500, 1500, 2000)  # a plan's calendar-year maximum per person, likewise
PLAN_WEIGHT = (0.5, 2.0)  # how common a plan is among the insured (relative), uniform [low, high)
FEESCHED_ENTRY_DAYS = (0, 365)  # days after opened that a fee schedule is entered, [low, high)
RADIOLOGY_CODES = ("D0210", "D0220", "D0230", "D0272", "D0274", "D0330")  # procedurecode.IsRadiology

# usergroup keys (the order of lab_staff.GROUPS) and the fixed users; the front desk users (one per clinic)
# follow the billing user, the providers' users follow them
ADMIN_GROUP, BILLING_GROUP, FRONT_DESK_GROUP, PROVIDER_GROUP, CLINICAL_GROUP = 1, 2, 3, 4, 5
ADMIN_USER, BILLING_USER = 1, 2


def enum_codes(name: str) -> dict[str, int]:
    """OpenDental enum ``name`` as {member name: code}."""
    return {v["name"]: int(v["value"]) for v in opendental_enums()[name]["values"]}


def interval_code(years: int, months: int, weeks: int, days: int) -> int:
    """OpenDental's Interval packed into an int: one byte each for days, weeks, months, years."""
    return days | (weeks << 8) | (months << 16) | (years << 24)


_COVCAT_NUM = {name: i + 1 for i, (name, _tier) in enumerate(ref.COVCATS)}  # covcat name -> CovCatNum
_COVCAT_TIER = {name: ref.TIERS.index(tier) for name, tier in ref.COVCATS}  # covcat name -> tier index


@dataclass
class Setup:
    """Keys and facts of the set-up that later stages look up. Arrays indexed by a key have an unused
    slot 0 so that ``array[key]`` works directly."""

    clinic_share: np.ndarray  # per clinic (index = ClinicNum - 1): share of families
    clinic_dentists: list[np.ndarray]  # per clinic: ProvNums of its dentists
    clinic_hygienists: list[np.ndarray]
    prov_op: np.ndarray  # ProvNum -> OperatoryNum
    op_minutes: np.ndarray  # [OperatoryNum, weekday] -> minutes from OPEN_MINUTE its provider is scheduled
    #                         that weekday (Monday 0; 0: not scheduled)
    prov_minutes: np.ndarray  # [ProvNum, weekday] -> minutes from OPEN_MINUTE the provider is scheduled
    prov_user: np.ndarray  # ProvNum -> UserNum
    frontdesk_user: np.ndarray  # ClinicNum -> UserNum
    billing_user: int
    admin_user: int
    defs: dict[tuple[str, str], int]  # (DefCat name, key) -> DefNum
    code_num: dict[str, int]  # ProcCode -> CodeNum
    code_minutes: np.ndarray  # CodeNum -> minutes
    code_tier: np.ndarray  # CodeNum -> 0 preventive, 1 basic, 2 major, -1 not billed to insurance
    code_covcat: np.ndarray  # CodeNum -> covcat number (0 none)
    code_hygiene: np.ndarray  # CodeNum -> bool
    code_abbr: list[str]  # CodeNum -> abbreviation ("" at 0)
    code_descript: list[str]
    code_proccode: list[str]
    code_base_units: np.ndarray
    fee: np.ndarray  # [FeeSchedNum, CodeNum] -> cents
    apt_type: dict[str, int]  # key -> AppointmentTypeNum
    recall_type: dict[str, int]
    recall_interval: dict[str, int]  # key -> packed Interval
    n_zip: int
    zip_city: list[str]
    zip_digits: list[str]
    carrier_names: list[str]  # CarrierNum - 1 -> name
    plan_carrier: np.ndarray  # PlanNum -> CarrierNum
    plan_employer: np.ndarray  # PlanNum -> EmployerNum
    plan_feesched: np.ndarray  # PlanNum -> FeeSchedNum of allowed fees (0: category percentage plan)
    plan_pct: np.ndarray  # [PlanNum, tier] -> percent
    plan_deductible: np.ndarray  # PlanNum -> cents per person per calendar year (basic and major)
    plan_annual_max: np.ndarray  # PlanNum -> cents per person per calendar year
    plan_weight: np.ndarray  # PlanNum -> how common the plan is
    plan_capitation: np.ndarray  # PlanNum -> bool: a capitation plan (PlanType 'c')
    referral_specialty: list[str]  # ReferralNum - 1 -> specialty key ("" for a marketing source)


@dataclass(frozen=True)
class Staff:
    """The clinics and their providers. Per provider arrays are indexed by ProvNum - 1 (per clinic:
    its dentists, then its hygienists); per clinic lists by ClinicNum - 1."""

    clinic_share: np.ndarray  # per clinic: share of families
    clinic_dentists: list[np.ndarray]  # per clinic: ProvNums of its dentists
    clinic_hygienists: list[np.ndarray]  # per clinic: ProvNums of its hygienists
    prov_kind: list[str]  # per provider: "dentist" or "hygienist"
    prov_clinic: np.ndarray  # per provider: ClinicNum
    prov_minutes: np.ndarray  # per provider and weekday (Monday 0 ... Sunday 6): minutes scheduled from
    #                           OPEN_MINUTE (FULL_DAY_MINUTES, or 0: not working)

    @property
    def n_clinics(self) -> int:
        return len(self.clinic_share)

    @property
    def n_prov(self) -> int:
        return len(self.prov_kind)

    @property
    def is_hyg(self) -> np.ndarray:
        """Per provider: bool, a hygienist."""
        return np.array([kind == "hygienist" for kind in self.prov_kind])


@dataclass(frozen=True)
class Plans:
    """The insurance plans' terms, per plan (index = PlanNum - 1)."""

    carrier: np.ndarray  # CarrierNum
    employer: np.ndarray  # EmployerNum (0: bought by an individual)
    feesched: np.ndarray  # FeeSchedNum of allowed fees (0: category percentage plan)
    capitation: np.ndarray  # bool: a capitation plan
    pct: np.ndarray  # [plan, tier] -> percent the plan pays (tiers preventive, basic, major)
    deductible: np.ndarray  # cents per person per calendar year
    annual_max: np.ndarray  # cents per person per calendar year
    weight: np.ndarray  # how common the plan is (relative)


def build_setup(ctx: Context) -> Setup:
    """Produce the set-up tables into ``ctx`` (definition, preference, provider, operatory, clinic, userod,
    procedurecode, feesched, fee, appointmenttype, recalltype, zipcode, carrier, employer, insplan,
    benefit, referral) and return their keys."""
    pools = identity.faker_pools(ctx.config.seed)
    opened_ts = ts(ctx.opened, SETUP_SECOND)
    staff = _staff(ctx.config.patients)
    defs = _definitions(ctx)
    _preferences(ctx)
    fnames, lnames = _providers(ctx, pools, staff, defs, opened_ts)
    clinic_names = [ref.CLINIC_NAMES[c].format(town=pools.towns[c]) for c in range(staff.n_clinics)]
    clinic_abbr = ["".join(word[0] for word in name.split()).upper() for name in clinic_names]
    prov_op = _operatories(ctx, staff, clinic_abbr, opened_ts)
    _clinics(ctx, pools, staff, clinic_names, clinic_abbr)
    users = _users(ctx, staff, fnames, lnames)  # front desk and provider UserNums
    _procedure_codes(ctx, defs, opened_ts)
    _fee_schedules(ctx, opened_ts)
    fee = _fees(ctx)
    intervals = _visit_types(ctx)
    zip_city = _zip_codes(ctx, pools, staff.n_clinics)
    _carriers(ctx, opened_ts)
    _employers(ctx, pools, zip_city)
    plans = _insurance_plans(ctx, pools, opened_ts)
    _benefits(ctx, plans, opened_ts)
    ctx.put("referral", len(ref.REFERRALS), _referrals(ctx, pools, defs, opened_ts))
    _vary_setup_stamps(ctx)
    return _assemble(staff, prov_op, users, defs, fee, intervals, pools, zip_city, plans)


def _staff(n_patients: int) -> Staff:
    """The clinics (one, or two from ``TWO_CLINICS_FROM`` patients on) and their dentists and hygienists: a
    clinic's patients need a weekly chair day per ``PATIENTS_PER_DENTIST_DAY`` (dentists) and per
    ``PATIENTS_PER_HYGIENIST_DAY`` (hygienists), rounded up (at least one); those days are split as evenly as
    possible over the fewest providers working at most ``FULL_TIME_DAYS`` each (``provider_days``), on the
    weekdays ``weekday_rota`` gives the clinic's providers, dentists first. No random draw."""
    n_clinics = 1 if n_patients < TWO_CLINICS_FROM else 2
    share = np.array([1.0]) if n_clinics == 1 else np.array(TWO_CLINIC_SHARE)
    prov_kind: list[str] = []
    prov_clinic: list[int] = []
    prov_minutes: list[np.ndarray] = []
    clinic_dentists, clinic_hygienists = [], []
    for c in range(n_clinics):
        pats = n_patients * share[c]
        per_kind = [(kind, provider_days(max(1, math.ceil(pats / per_day))))
                    for kind, per_day in (("dentist", PATIENTS_PER_DENTIST_DAY),
                                          ("hygienist", PATIENTS_PER_HYGIENIST_DAY))]
        kinds = [kind for kind, days in per_kind for _ in days]
        for kind, minutes in zip(kinds, weekday_rota([d for _, days in per_kind for d in days])):
            prov_kind.append(kind)
            prov_clinic.append(c + 1)
            prov_minutes.append(minutes)
        nums = np.arange(len(prov_kind) - len(kinds), len(prov_kind)) + 1
        clinic_dentists.append(nums[np.array(kinds) == "dentist"].astype(np.int64))
        clinic_hygienists.append(nums[np.array(kinds) == "hygienist"].astype(np.int64))
    return Staff(share, clinic_dentists, clinic_hygienists, prov_kind, np.array(prov_clinic),
                 np.array(prov_minutes, dtype=np.int64).reshape(len(prov_kind), 7))


def provider_days(weekly_days: int) -> list[int]:
    """Chair days a week of each of the providers sharing ``weekly_days`` (>= 1): the fewest providers working
    at most ``FULL_TIME_DAYS`` each, the days split as evenly as possible, the larger shares first
    (9: [3, 3, 3]; 10: [4, 3, 3]; 5: [3, 2])."""
    n = -(-weekly_days // FULL_TIME_DAYS)
    base, extra = divmod(weekly_days, n)
    return [base + 1] * extra + [base] * (n - extra)


def weekday_rota(days: list[int]) -> list[np.ndarray]:
    """The schedules of a clinic's providers working ``days`` days a week each, as minutes scheduled per
    weekday (Monday 0 ... Sunday 6; ``FULL_DAY_MINUTES`` or 0). Each provider in turn takes the weekdays the
    fewest of the earlier ones work, in the order ``SPREAD_WEEKDAYS`` starting one further along for each
    provider, so that the clinic is staffed on as many weekdays as its providers' days allow and a
    part-timer's days spread over the week (a one-day dentist and a two-day hygienist: Monday; Wednesday and
    Friday). Deterministic."""
    cover = np.zeros(WORKING_WEEKDAYS, dtype=np.int64)
    rota = []
    for k, d in enumerate(days):
        order = sorted(SPREAD_WEEKDAYS, key=lambda w: (cover[w], (SPREAD_WEEKDAYS.index(w) - k) % WORKING_WEEKDAYS))
        minutes = np.zeros(7, dtype=np.int64)
        minutes[order[:d]] = FULL_DAY_MINUTES
        cover[order[:d]] += 1
        rota.append(minutes)
    return rota


def _definitions(ctx: Context) -> dict[tuple[str, str], int]:
    """The definition table: ``reference.DEFINITIONS`` and the procedure code categories grouped by
    DefCat, then the stock definitions. Returns (DefCat name, key) -> DefNum."""
    enums = enum_codes("DefCat")
    def_rows = list(ref.DEFINITIONS) + [("ProcCodeCats", key, name, "") for key, name in ref.PROC_CATEGORIES]
    def_rows.sort(key=lambda r: enums[r[0]])  # grouped by category, stable within it
    defs: dict[tuple[str, str], int] = {}
    item_order, categories = [], []
    seen: dict[str, int] = {}
    for i, (cat, key, _name, _value) in enumerate(def_rows):
        defs[(cat, key)] = i + 1
        item_order.append(seen.get(cat, 0))
        seen[cat] = seen.get(cat, 0) + 1
        categories.append(enums[cat])
    n_def = len(def_rows)
    ctx.put("definition", n_def, {
        "DefNum": np.arange(1, n_def + 1),
        "Category": np.array(categories),
        "ItemOrder": np.array(item_order),
        "ItemName": [r[2] for r in def_rows],
        "ItemValue": [r[3] for r in def_rows],
        "ItemColor": _colors(ctx.rng, n_def),
        "IsHidden": 0,
    })
    _stock_definitions(ctx, defs, enums)
    return defs


def _preferences(ctx: Context) -> None:
    """The preference table: the practice's settings (``SyntheticConfig.preference_rows``)."""
    prefs = ctx.config.preference_rows()
    ctx.put("preference", len(prefs), {
        "PrefNum": np.arange(1, len(prefs) + 1),
        "PrefName": [name for name, _ in prefs],
        "ValueString": [value for _, value in prefs],
        "Comments": "",
    })


def _providers(ctx: Context, pools: identity.Pools, staff: Staff, defs: dict[tuple[str, str], int],
               opened_ts: int) -> tuple[list[str], list[str]]:
    """The provider table, one row per ProvNum (``DOC1``/``HYG1`` ...). Returns the providers' first and
    last names (per provider)."""
    rng = ctx.rng
    people_rng = ctx.people_rng
    n_prov, is_hyg = staff.n_prov, staff.is_hyg
    gender = rng.integers(0, 2, size=n_prov)
    fnames = identity.first_names(people_rng, pools, gender).to_pylist()
    lnames = identity.pick(people_rng, pools.last, n_prov).to_pylist()
    abbr = [("DOC" if kind == "dentist" else "HYG") + str(i)
            for kind, i in zip(staff.prov_kind, _numbers_within(staff.prov_kind))]
    age_days = (PROVIDER_AGE_YEARS[0] * 365, PROVIDER_AGE_YEARS[1] * 365)
    prov_nums = np.arange(1, n_prov + 1)
    ctx.put("provider", n_prov, {
        "ProvNum": prov_nums,
        "Abbr": abbr,
        "ItemOrder": prov_nums - 1,
        "LName": lnames,
        "FName": fnames,
        "MI": [chr(65 + int(i)) for i in people_rng.integers(0, 26, size=n_prov)],
        "Suffix": np.where(is_hyg, "RDH", "DDS"),
        "FeeSched": ref.FEE_STANDARD,
        "Specialty": np.where(is_hyg, defs[("ProviderSpecialties", "hygienist")],
                              defs[("ProviderSpecialties", "general")]),
        "StateLicense": [f"{ref.STATE}{int(x):06d}" for x in rng.integers(0, 999_999, size=n_prov)],
        "IsSecondary": is_hyg.astype(np.int64),
        "ProvColor": _colors(rng, n_prov),
        "SigOnFile": 1,
        "NationalProvID": [f"1{int(x):09d}" for x in rng.integers(0, 999_999_999, size=n_prov)],
        "DateTStamp": opened_ts,
        "IsNotPerson": 0,
        "ProvStatus": 0,
        "Birthdate": ctx.as_of - rng.integers(*age_days, size=n_prov),
    })
    return fnames, lnames


def _operatories(ctx: Context, staff: Staff, clinic_abbr: list[str], opened_ts: int) -> np.ndarray:
    """The operatory table: one operatory per provider, same order (``Op 1 SFD``, ``Hyg 2 SFD`` ...).
    Returns ProvNum -> OperatoryNum (slot 0 unused)."""
    is_hyg = staff.is_hyg
    prov_nums = np.arange(1, staff.n_prov + 1)
    op_num = np.arange(1, staff.n_prov + 1)
    op_names, op_abbr = [], []
    for kind, clinic, i in zip(staff.prov_kind, staff.prov_clinic.tolist(), _numbers_within(staff.prov_kind)):
        label = "Op" if kind == "dentist" else "Hyg"
        op_names.append(f"{label} {i} {clinic_abbr[clinic - 1]}")
        op_abbr.append(f"{label[0]}{i}")
    ctx.put("operatory", staff.n_prov, {
        "OperatoryNum": op_num,
        "OpName": op_names,
        "Abbrev": op_abbr,
        "ItemOrder": op_num - 1,
        "ProvDentist": np.where(is_hyg, 0, prov_nums),
        "ProvHygienist": np.where(is_hyg, prov_nums, 0),
        "IsHygiene": is_hyg.astype(np.int64),
        "ClinicNum": staff.prov_clinic,
        "DateTStamp": opened_ts,
    })
    return np.concatenate([[0], op_num])


def _clinics(ctx: Context, pools: identity.Pools, staff: Staff, names: list[str], abbr: list[str]) -> None:
    """The clinic table: clinic c in the pool's town c, its first dentist billing and by default."""
    n_clinics = staff.n_clinics
    clinic_nums = np.arange(1, n_clinics + 1)
    ctx.put("clinic", n_clinics, {
        "ClinicNum": clinic_nums,
        "Description": names,
        "Abbr": abbr,
        "Address": identity.street_addresses(ctx.people_rng, pools, n_clinics).to_pylist(),
        "City": [pools.towns[c] for c in range(n_clinics)],
        "State": ref.STATE,
        "Zip": [pools.zip_digits[pools.town_zip(c)] for c in range(n_clinics)],
        "Phone": [f"{ref.AREA_CODES[0]}{identity.PHONE_EXCHANGE}010{c}" for c in range(n_clinics)],
        "DefaultPlaceService": 0,
        "InsBillingProv": np.array([staff.clinic_dentists[c][0] for c in range(n_clinics)]),
        "DefaultProv": np.array([staff.clinic_dentists[c][0] for c in range(n_clinics)]),
        "ItemOrder": clinic_nums - 1,
    })


def _users(ctx: Context, staff: Staff, fnames: list[str], lnames: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The userod table: admin, billing, a front desk user per clinic, a user per provider. Returns
    ClinicNum -> UserNum of its front desk and ProvNum -> UserNum (slot 0 unused in both)."""
    n_clinics, n_prov = staff.n_clinics, staff.n_prov
    clinic_nums = np.arange(1, n_clinics + 1)
    user_names = ["admin", "billing"] + [f"frontdesk{c}" for c in clinic_nums] + _provider_user_names(fnames, lnames)
    user_clinic = [0, 0] + list(clinic_nums) + list(staff.prov_clinic)
    user_prov = [0, 0] + [0] * n_clinics + list(np.arange(1, n_prov + 1))
    n_users = len(user_names)
    ctx.put("userod", n_users, {
        "UserNum": np.arange(1, n_users + 1),
        "UserName": user_names,
        "UserGroupNum": np.array([ADMIN_GROUP, BILLING_GROUP] + [FRONT_DESK_GROUP] * n_clinics
                                 + [PROVIDER_GROUP] * n_prov),
        "ClinicNum": np.array(user_clinic),
        "ProvNum": np.array(user_prov),
        "ClinicIsRestricted": np.array([0, 0] + [1] * n_clinics + [0] * n_prov),
        "DateTLastLogin": ctx.clock(ctx.as_of - ctx.rng.integers(*LAST_LOGIN_DAYS, size=n_users)),
    })
    first_front_desk = BILLING_USER + 1
    frontdesk_user = np.concatenate([[0], first_front_desk + np.arange(n_clinics)])
    prov_user = np.concatenate([[0], first_front_desk + n_clinics + np.arange(n_prov)])
    return frontdesk_user, prov_user


def _procedure_codes(ctx: Context, defs: dict[tuple[str, str], int], opened_ts: int) -> None:
    """The procedurecode table: ``reference.CODES`` in order (CodeNum = position + 1)."""
    n_codes = len(ref.CODES)
    ctx.put("procedurecode", n_codes, {
        "CodeNum": np.arange(1, n_codes + 1),
        "ProcCode": [c.code for c in ref.CODES],
        "Descript": [c.descript for c in ref.CODES],
        "AbbrDesc": [c.abbr for c in ref.CODES],
        "ProcTime": [time_pattern(c.minutes) for c in ref.CODES],
        "ProcCat": np.array([defs[("ProcCodeCats", c.category)] for c in ref.CODES]),
        "TreatArea": np.array([c.area for c in ref.CODES]),
        "NoBillIns": np.array([int(c.covcat is None) for c in ref.CODES]),
        "IsProsth": np.array([int(c.prosth) for c in ref.CODES]),
        "IsHygiene": np.array([int(c.hygiene) for c in ref.CODES]),
        "BaseUnits": np.array([c.base_units for c in ref.CODES]),
        "DateTStamp": opened_ts,
        "IsRadiology": np.array([int(c.code in RADIOLOGY_CODES) for c in ref.CODES]),
    })


def _fee_schedules(ctx: Context, opened_ts: int) -> None:
    """The feesched table: ``reference.FEE_SCHEDULES`` in order (entry and edit moments are set later by
    ``_vary_setup_stamps``)."""
    n_sched = len(ref.FEE_SCHEDULES)
    ctx.put("feesched", n_sched, {
        "FeeSchedNum": np.arange(1, n_sched + 1),
        "Description": [s[0] for s in ref.FEE_SCHEDULES],
        "FeeSchedType": np.array([s[1] for s in ref.FEE_SCHEDULES]),
        "ItemOrder": np.arange(n_sched),
        "IsGlobal": 1,
        "SecUserNumEntry": 1,
        "SecDateEntry": ctx.opened,
        "SecDateTEdit": opened_ts,
    })


def _fees(ctx: Context) -> np.ndarray:
    """The fee table: a fee per fee schedule and code, the standard fee (whole dollars) times a level
    drawn from the schedule's range. Returns [FeeSchedNum, CodeNum] -> cents (row and column 0 unused)."""
    rng = ctx.rng
    n_sched, n_codes = len(ref.FEE_SCHEDULES), len(ref.CODES)
    std_dollars = np.array([c.fee for c in ref.CODES], dtype=np.int64)
    fee = np.zeros((n_sched + 1, n_codes + 1), dtype=np.int64)
    for s, (_desc, _type, (lo, hi)) in enumerate(ref.FEE_SCHEDULES, start=1):
        level = rng.uniform(lo, hi, size=n_codes)
        fee[s, 1:] = np.rint(std_dollars * level).astype(np.int64) * 100
    fee_sched = np.repeat(np.arange(1, n_sched + 1), n_codes)
    fee_code = np.tile(np.arange(1, n_codes + 1), n_sched)
    n_fees = len(fee_sched)
    fee_updated = ctx.start + rng.integers(*FEE_REVIEW_DAYS, size=n_fees)
    ctx.put("fee", n_fees, {
        "FeeNum": np.arange(1, n_fees + 1),
        "Amount": fee[fee_sched, fee_code] / 100.0,
        "FeeSched": fee_sched,
        "CodeNum": fee_code,
        "SecUserNumEntry": 1,
        "SecDateEntry": ctx.opened,
        "SecDateTEdit": ctx.clock(fee_updated - FEE_REVIEW_LEAD_DAYS),
    })
    return fee


def _visit_types(ctx: Context) -> dict[str, int]:
    """The appointmenttype and recalltype tables from ``reference``. Returns recall type key -> packed
    Interval (recalltype.DefaultInterval)."""
    n_at = len(ref.APPOINTMENT_TYPES)
    ctx.put("appointmenttype", n_at, {
        "AppointmentTypeNum": np.arange(1, n_at + 1),
        "AppointmentTypeName": [a[1] for a in ref.APPOINTMENT_TYPES],
        "AppointmentTypeColor": np.array([a[2] for a in ref.APPOINTMENT_TYPES]) - 0x1000000,
        "ItemOrder": np.arange(n_at),
        "Pattern": [time_pattern(a[3]) for a in ref.APPOINTMENT_TYPES],
        "CodeStr": [a[4] for a in ref.APPOINTMENT_TYPES],
    })
    n_rt = len(ref.RECALL_TYPES)
    intervals = {r[0]: interval_code(*r[2]) for r in ref.RECALL_TYPES}
    ctx.put("recalltype", n_rt, {
        "RecallTypeNum": np.arange(1, n_rt + 1),
        "Description": [r[1] for r in ref.RECALL_TYPES],
        "DefaultInterval": np.array([intervals[r[0]] for r in ref.RECALL_TYPES]),
        "TimePattern": [r[3] for r in ref.RECALL_TYPES],
        "Procedures": [r[4] for r in ref.RECALL_TYPES],
    })
    return intervals


def _zip_codes(ctx: Context, pools: identity.Pools, n_clinics: int) -> list[str]:
    """The zipcode table: the pool's ZIP codes, the clinics' towns' frequent. Returns the town per ZIP
    code (index = ZipCodeNum - 1)."""
    n_zip = len(pools.zip_digits)
    zip_city = pools.zip_city()
    ctx.put("zipcode", n_zip, {
        "ZipCodeNum": np.arange(1, n_zip + 1),
        "ZipCodeDigits": list(pools.zip_digits),
        "City": zip_city,
        "State": ref.STATE,
        "IsFrequent": (np.array(pools.zip_town) < n_clinics).astype(np.int64),  # the clinics' towns
    })
    return zip_city


def _carriers(ctx: Context, opened_ts: int) -> None:
    """The carrier table: ``reference.CARRIERS`` in order, a PO Box in Salem and an 800 number each."""
    rng = ctx.rng
    n_car = len(ref.CARRIERS)
    ctx.put("carrier", n_car, {
        "CarrierNum": np.arange(1, n_car + 1),
        "CarrierName": [c[0] for c in ref.CARRIERS],
        "Address": [f"PO Box {int(x)}" for x in rng.integers(*CARRIER_PO_BOX, size=n_car)],
        "City": "Salem",
        "State": ref.STATE,
        "Zip": "97301",
        "Phone": [f"800555{int(x):04d}" for x in rng.integers(*CARRIER_PHONE_LINE, size=n_car)],
        "ElectID": [c[1] for c in ref.CARRIERS],
        "SecUserNumEntry": 1,
        "SecDateEntry": ctx.opened,
        "SecDateTEdit": opened_ts,
    })


def _employers(ctx: Context, pools: identity.Pools, zip_city: list[str]) -> None:
    """The employer table: the pool's employers, each at an address in one of the ZIP codes."""
    people_rng = ctx.people_rng
    n_emp = len(pools.employers)
    emp_zip = people_rng.integers(0, len(pools.zip_digits), size=n_emp)
    ctx.put("employer", n_emp, {
        "EmployerNum": np.arange(1, n_emp + 1),
        "EmpName": list(pools.employers),
        "Address": identity.street_addresses(people_rng, pools, n_emp),
        "City": [zip_city[int(z)] for z in emp_zip],
        "State": ref.STATE,
        "Zip": [pools.zip_digits[int(z)] for z in emp_zip],
        "Phone": identity.plain_phones(people_rng, ref.AREA_CODES, n_emp),
    })


def _insurance_plans(ctx: Context, pools: identity.Pools, opened_ts: int) -> Plans:
    """The insplan table: ``N_PLANS`` plans, group plans of distinct employers then ``INDIVIDUAL_PLANS``
    individual ones; PPO (``PPO_RATE``), capitation or category percentage. Returns their terms."""
    rng = ctx.rng
    n_plans = N_PLANS
    carrier = rng.integers(1, len(ref.CARRIERS) + 1, size=n_plans)
    employer = np.concatenate([rng.permutation(len(pools.employers))[: n_plans - INDIVIDUAL_PLANS] + 1,
                               np.zeros(INDIVIDUAL_PLANS, dtype=np.int64)])
    is_ppo = rng.random(n_plans) < PPO_RATE
    plan_fs = np.where(is_ppo, rng.choice(PPO_FEE_SCHEDULES, size=n_plans), 0)
    is_cap = _capitation_plans(ctx, is_ppo)
    pct = np.stack([rng.choice(choices, size=n_plans) for choices in COINSURANCE_PCT], axis=1)
    deductible = rng.choice(DEDUCTIBLE_DOLLARS, size=n_plans) * 100
    annual_max = rng.choice(ANNUAL_MAX_DOLLARS, size=n_plans) * 100
    emp_names = ["Individual"] + list(pools.employers)
    ctx.put("insplan", n_plans, {
        "PlanNum": np.arange(1, n_plans + 1),
        "GroupName": [emp_names[int(e)] for e in employer],
        "GroupNum": [f"G{int(x):06d}" for x in rng.integers(0, 999_999, size=n_plans)],
        "FeeSched": plan_fs,
        "PlanType": np.select([is_ppo, is_cap], ["p", "c"], ""),
        "EmployerNum": employer,
        "CarrierNum": carrier,
        "SecUserNumEntry": 1,
        "SecDateEntry": ctx.opened,
        "SecDateTEdit": opened_ts,
    })
    weight = rng.uniform(*PLAN_WEIGHT, size=n_plans)
    return Plans(carrier, employer, plan_fs, is_cap, pct, deductible, annual_max, weight)


def _benefits(ctx: Context, plans: Plans, opened_ts: int) -> None:
    """The benefit table, per plan: one coinsurance row per coverage category, the general deductible,
    deductible waivers for diagnostic and preventive, and the maximum (dollars, per calendar year)."""
    bt = enum_codes("InsBenefitType")
    year = enum_codes("BenefitTimePeriod")["CalendarYear"]
    level = enum_codes("BenefitCoverageLevel")
    none, person = level["None"], level["Individual"]
    rows = []
    for p in range(len(plans.carrier)):
        rows += [(p + 1, i + 1, bt["CoInsurance"], int(plans.pct[p, _COVCAT_TIER[name]]), -1.0, year, none)
                 for i, (name, _tier) in enumerate(ref.COVCATS)]
        rows.append((p + 1, 0, bt["Deductible"], -1, plans.deductible[p] / 100.0, year, person))
        rows.append((p + 1, _COVCAT_NUM["Diagnostic"], bt["Deductible"], -1, 0.0, year, person))
        rows.append((p + 1, _COVCAT_NUM["Preventive"], bt["Deductible"], -1, 0.0, year, person))
        rows.append((p + 1, 0, bt["Limitations"], -1, plans.annual_max[p] / 100.0, year, person))
    names = ("PlanNum", "CovCatNum", "BenefitType", "Percent", "MonetaryAmt", "TimePeriod", "CoverageLevel")
    values = {name: np.array([row[k] for row in rows]) for k, name in enumerate(names)}
    n_ben = len(rows)
    values.update({
        "BenefitNum": np.arange(1, n_ben + 1),
        "SecDateTEntry": opened_ts,
        "SecDateTEdit": opened_ts,
    })
    ctx.put("benefit", n_ben, values)


def _assemble(staff: Staff, prov_op: np.ndarray, users: tuple[np.ndarray, np.ndarray],
              defs: dict[tuple[str, str], int], fee: np.ndarray, intervals: dict[str, int],
              pools: identity.Pools, zip_city: list[str], plans: Plans) -> Setup:
    """The ``Setup`` of the steps' results; the code lookups straight from ``reference.CODES``."""
    n_codes = len(ref.CODES)
    code_tier = np.full(n_codes + 1, -1, dtype=np.int64)
    code_covcat = np.zeros(n_codes + 1, dtype=np.int64)
    for i, c in enumerate(ref.CODES, start=1):
        if c.covcat is not None:
            code_tier[i] = _COVCAT_TIER[c.covcat]
            code_covcat[i] = _COVCAT_NUM[c.covcat]
    frontdesk_user, prov_user = users
    prov_minutes = np.concatenate([np.zeros((1, 7), dtype=np.int64), staff.prov_minutes])
    op_minutes = np.zeros((int(prov_op.max()) + 1, 7), dtype=np.int64)
    op_minutes[prov_op[1:]] = staff.prov_minutes
    return Setup(
        clinic_share=staff.clinic_share,
        clinic_dentists=staff.clinic_dentists,
        clinic_hygienists=staff.clinic_hygienists,
        prov_op=prov_op,
        op_minutes=op_minutes,
        prov_minutes=prov_minutes,
        prov_user=prov_user,
        frontdesk_user=frontdesk_user,
        billing_user=BILLING_USER,
        admin_user=ADMIN_USER,
        defs=defs,
        code_num={c.code: i for i, c in enumerate(ref.CODES, start=1)},
        code_minutes=np.array([0] + [c.minutes for c in ref.CODES], dtype=np.int64),
        code_tier=code_tier,
        code_covcat=code_covcat,
        code_hygiene=np.array([False] + [c.hygiene for c in ref.CODES]),
        code_abbr=[""] + [c.abbr for c in ref.CODES],
        code_descript=[""] + [c.descript for c in ref.CODES],
        code_proccode=[""] + [c.code for c in ref.CODES],
        code_base_units=np.array([0] + [c.base_units for c in ref.CODES], dtype=np.int64),
        fee=fee,
        apt_type={a[0]: i for i, a in enumerate(ref.APPOINTMENT_TYPES, start=1)},
        recall_type={r[0]: i for i, r in enumerate(ref.RECALL_TYPES, start=1)},
        recall_interval=intervals,
        n_zip=len(pools.zip_digits),
        zip_city=zip_city,
        zip_digits=list(pools.zip_digits),
        carrier_names=[c[0] for c in ref.CARRIERS],
        plan_carrier=np.concatenate([[0], plans.carrier]),
        plan_employer=np.concatenate([[0], plans.employer]),
        plan_feesched=np.concatenate([[0], plans.feesched]),
        plan_pct=np.concatenate([np.zeros((1, 3), dtype=np.int64), plans.pct.astype(np.int64)]),
        plan_deductible=np.concatenate([[0], plans.deductible]).astype(np.int64),
        plan_annual_max=np.concatenate([[0], plans.annual_max]).astype(np.int64),
        plan_weight=np.concatenate([[0.0], plans.weight]),
        plan_capitation=np.concatenate([[False], plans.capitation]),
        referral_specialty=[r[0] for r in ref.REFERRALS],
    )


def _colors(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random opaque colours as OpenDental stores them: ARGB as a signed int32 (int64 array)."""
    return rng.integers(0, 0xFFFFFF, size=n) - 0x1000000


def _numbers_within(kinds: list[str]) -> list[int]:
    """Per item: its number (from 1) among the items of the same kind before it, e.g. DOC1, DOC2, HYG1."""
    counters: dict[str, int] = {}
    numbers = []
    for kind in kinds:
        counters[kind] = counters.get(kind, 0) + 1
        numbers.append(counters[kind])
    return numbers


def _capitation_plans(ctx: Context, is_ppo: np.ndarray) -> np.ndarray:
    """Per plan (index = PlanNum - 1): whether it is a capitation plan. ``CAPITATION_PLANS`` of the
    category percentage (non-PPO) plans, drawn on a stream of their own (seed + ``CAPITATION_STREAM``)."""
    stream = ctx.stream(CAPITATION_STREAM)
    is_cap = np.zeros(len(is_ppo), dtype=bool)
    is_cap[stream.permutation(np.flatnonzero(~is_ppo))[:CAPITATION_PLANS]] = True
    return is_cap


def _provider_user_names(fnames: list[str], lnames: list[str]) -> list[str]:
    """OpenDental user names of the providers: first initial and last name in lower case, letters only,
    a number appended from the second provider of the same name on (``jsmith``, ``jsmith2``)."""
    names, seen = [], {}
    for first, last in zip(fnames, lnames):
        base = "".join(ch for ch in f"{first[:1]}{last}".lower() if ch.isalpha())
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}{seen[base]}")
    return names


def _referrals(ctx: Context, pools: identity.Pools, defs: dict[tuple[str, str], int], opened_ts: int) -> dict:
    """The referral table's values: specialists (``reference.REFERRALS`` rows with a specialty) get a name,
    an office in one of the pool's towns and a phone from ``ctx.people_rng``; marketing sources are
    NotPerson rows named by the source."""
    rng = ctx.rng
    people_rng = ctx.people_rng
    n_ref = len(ref.REFERRALS)
    is_doc = np.array([int(bool(r[0])) for r in ref.REFERRALS])
    doc = is_doc == 1
    ref_zip = people_rng.integers(0, len(pools.zip_digits), size=n_ref)
    zip_city = pools.zip_city()
    first = identity.first_names(people_rng, pools, people_rng.integers(0, 2, size=n_ref)).to_pylist()
    last = identity.pick(people_rng, pools.last, n_ref).to_pylist()
    address = identity.street_addresses(people_rng, pools, n_ref).to_pylist()
    phone = identity.plain_phones(people_rng, ref.AREA_CODES, n_ref)
    specialist = [f"{zip_city[int(z)]} {r[1]}" for z, r in zip(ref_zip, ref.REFERRALS)]
    npi = rng.integers(0, 999_999_999, size=n_ref)
    return {
        "ReferralNum": np.arange(1, n_ref + 1),
        "LName": [last[i] if d else r[1] for i, (d, r) in enumerate(zip(doc, ref.REFERRALS))],
        "FName": [first[i] if d else "" for i, d in enumerate(doc)],
        "Specialty": np.array([defs[("ProviderSpecialties", r[0])] if r[0] else 0 for r in ref.REFERRALS]),
        "ST": np.where(doc, ref.STATE, ""),
        "Telephone": [phone[i] if d else "" for i, d in enumerate(doc)],
        "Address": [address[i] if d else "" for i, d in enumerate(doc)],
        "City": [zip_city[int(z)] if d else "" for z, d in zip(ref_zip, doc)],
        "Zip": [pools.zip_digits[int(z)] if d else "" for z, d in zip(ref_zip, doc)],
        "NotPerson": 1 - is_doc,
        "Title": np.where(doc, "DDS", ""),
        "NationalProvID": [f"1{int(x):09d}" if d else "" for x, d in zip(npi, doc)],
        "IsDoctor": is_doc,
        "DateTStamp": opened_ts,
        "IsPreferred": is_doc,
        "BusinessName": [s if d else "" for s, d in zip(specialist, doc)],
    }


def _stock_definitions(ctx: Context, defs: dict[tuple[str, str], int], enums: dict[str, int]) -> None:
    """Append ``reference.STOCK_DEFINITIONS`` to the definition table (DefNums after the others, ItemOrder
    continuing each category's) and their keys to ``defs``. Colours from ``STOCK_DEFINITION_STREAM``."""
    n_def, values = ctx.values["definition"]
    rows = ref.STOCK_DEFINITIONS
    order_of: dict[int, int] = {}
    for category, item_order in zip(values["Category"].tolist(), values["ItemOrder"].tolist()):
        order_of[category] = max(order_of.get(category, -1), item_order)
    categories, item_orders = [], []
    for i, (cat, key, _name, _value) in enumerate(rows):
        if (cat, key) in defs:
            raise ValueError(f"stock definition {cat}/{key} is defined twice")
        defs[(cat, key)] = n_def + i + 1
        code = enums[cat]
        order_of[code] = order_of.get(code, -1) + 1
        categories.append(code)
        item_orders.append(order_of[code])
    colors = _colors(ctx.stream(STOCK_DEFINITION_STREAM), len(rows))
    n = n_def + len(rows)
    ctx.values["definition"] = (n, {
        "DefNum": np.arange(1, n + 1),
        "Category": np.concatenate([values["Category"], categories]),
        "ItemOrder": np.concatenate([values["ItemOrder"], item_orders]),
        "ItemName": list(values["ItemName"]) + [r[2] for r in rows],
        "ItemValue": list(values["ItemValue"]) + [r[3] for r in rows],
        "ItemColor": np.concatenate([values["ItemColor"], colors]),
        "IsHidden": 0,
    })


def _vary_setup_stamps(ctx: Context) -> None:
    """Spread the entry and edit moments of the set-up rows over the practice's history, as a practice
    that has used OpenDental for years has them (one moment for every row would hide a replication that
    reads the timestamps wrong): a fee schedule is entered in the first year after ``opened`` and edited
    at the last yearly review of its fees; a fee is entered between ``opened`` and that review; a referral
    source is entered (``DateTStamp``) on a day between ``opened`` and ``start``. Office hours, days since
    the epoch / seconds. Draws from ``SETUP_STAMP_STREAM`` only."""
    stream = ctx.stream(SETUP_STAMP_STREAM)
    fees = ctx.values["fee"][1]
    edited = np.asarray(fees["SecDateTEdit"], dtype=np.int64)
    edit_day = edited // DAY
    entry = ctx.opened + np.floor(stream.random(len(edit_day)) * (edit_day - ctx.opened)).astype(np.int64)
    fees["SecDateEntry"] = entry
    n_sched, scheds = ctx.values["feesched"]
    last_edit = np.zeros(n_sched + 1, dtype=np.int64)
    np.maximum.at(last_edit, np.asarray(fees["FeeSched"], dtype=np.int64), edited)
    scheds["SecDateEntry"] = ctx.opened + stream.integers(*FEESCHED_ENTRY_DAYS, size=n_sched)
    scheds["SecDateTEdit"] = last_edit[1:]
    n_ref, referrals = ctx.values["referral"]
    days = ctx.opened + stream.integers(0, ctx.start - ctx.opened, size=n_ref)
    referrals["DateTStamp"] = days * DAY + stream.integers(*OFFICE_SECONDS, size=n_ref)  # in office hours


def time_pattern(minutes: int) -> str:
    """OpenDental's time pattern: one character per 5 minutes, ``X`` provider time, ``/`` assistant."""
    units = max(1, minutes // 5)
    return "X" * units if units <= 2 else "/" + "X" * (units - 2) + "/"

