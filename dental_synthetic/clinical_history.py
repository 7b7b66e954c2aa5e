"""Perio charting, medical history and prescriptions (issue #14): perioexam, periomeasure, diseasedef,
disease, allergydef, allergy, medication, rxnorm, rxdef, rxpat, pharmacy, pharmclinic.

Built from the finished Arrow tables (appointment, procedurelog, toothinitial, clinic, patient), drawing
only from ``ctx.stream(STREAM_OFFSET)``, so no other table changes.

Perio charts (OpenDental ``perioexam`` / ``periomeasure``, ``OpenDentBusiness/TableTypes/PerioMeasure.cs``):

- Exams: for a share ``PERIO_CHARTED_RATE`` of patients, at completed hygiene appointments
  (``IsHygiene``) from age ``ADULT_AGE``, at most one per patient per ``EXAM_SPACING_DAYS`` (a random
  phase per patient picks the first visit of each year; a later one closer than ``MIN_GAP_DAYS`` to the
  previous exam is dropped). A patient with scaling and root planing (D4341/D4342, ProcStatus TP or C)
  always has an exam on the day SRP was first planned (its earliest DateTP), at that day's completed
  appointment when there is one. ExamDate = the visit day, ProvNum = the visit's hygienist (else its
  provider), DateTMeasureEdit = during the visit.
- Depths: per exam and present tooth (teeth marked missing in ``toothinitial`` get a SkipTooth row,
  ToothValue 1, as OpenDental stores them) one Probing row (SequenceType 4) with the six sites MB, B,
  DB, ML, L, DL in mm (-1: not probed, a share ``UNPROBED_SITE_RATE`` of sites), ToothValue -1; and a
  BleedSupPlaqCalc row (SequenceType 6, bit flags Blood 1 | Suppuration 2 | Plaque 4 | Calculus 8, 0 for a
  site without any) for teeth that bleed.
- Which exams are "deep" (at least one site >= ``DEEP_MM`` mm, else every site 1-4 mm): an SRP
  patient's exams from the day SRP was planned until it was done (the last completed SRP's ProcDate,
  when none is still planned); for a share ``FOLLOWUP_RATE`` of the other charted patients, the latest
  exam (and earlier ones with probability ``EARLIER_DEEP_RATE``): pockets with no SRP planned, the
  follow-up list. So ``needs_srp_followup`` (``mart_perio_followup``) is true exactly for that share.

The stage's ground truth goes to ``ctx.truth["perio_followup"]`` (one row per patient with an exam:
PatNum, PerioExamNum, ExamDate (day number), ProvNum of the latest exam, DeepSites (sites >= 5 mm),
ProbedSites, MaxDepth (mm) at it, NeedsFollowup) and ``ctx.truth["perio_exams"]`` (per exam:
PerioExamNum, PatNum, ExamDate, ProbedSites, DeepSites, MaxDepth).

Medical history: ``diseasedef`` (common conditions, ICD-9, ICD-10 and SNOMED CT codes), ``disease`` rows
per condition at its prevalence among adults (ProblemStatus Active, Inactive or Resolved);
``allergydef`` (SnomedAllergy types; drug allergies point at their ``medication``) and ``allergy``;
``medication`` and ``rxnorm`` (ingredient-level RxCui codes); ``rxdef`` templates; ``rxpat``: an
analgesic for each completed extraction (D7140, D7210, D7240; an antibiotic too after a share of surgical
ones, clindamycin for penicillin-allergic patients), a chlorhexidine rinse per completed SRP visit
(patient and day); RxDate = ProcDate, ProvNum, ClinicNum and ProcNum of the procedure, PharmacyNum one
of the clinic's pharmacies (``pharmclinic``) or 0 when the script was printed. Free text is empty or
generic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .columns import strings
from .context import Context
from .extras import _c  # a column as numpy (days for dates, seconds for timestamps)
from .people import ADULT_AGE  # years at the visit
from .practice import enum_codes
from .util import DAY, OFFICE_SECONDS, ZERO_DAY, key_order

TABLES = ("perioexam", "periomeasure", "diseasedef", "disease", "allergydef", "allergy", "medication",
          "rxnorm", "rxdef", "rxpat", "pharmacy", "pharmclinic")
STREAM_OFFSET = 9101

# --- perio charting ---------------------------------------------------------------------------------------
PERIO_CHARTED_RATE = 0.35  # share of patients whose hygiene visits get a perio chart
EXAM_SPACING_DAYS = 365  # at most one exam per patient in each such period
MIN_GAP_DAYS = 180  # nor two exams closer than this
FOLLOWUP_RATE = 0.08  # share of charted patients without SRP whose latest exam has sites >= DEEP_MM
EARLIER_DEEP_RATE = 0.5  # chance an earlier exam of such a patient is deep as well
DEEP_MM = 5  # the pocket depth that calls for scaling and root planing
DEEP_SITES_MEAN = 5.0  # mean extra deep sites (beyond the first) of a deep exam, Poisson
HEALTHY_DEPTH_P = {1: 0.12, 2: 0.46, 3: 0.32, 4: 0.10}  # depth (mm) of every other site
DEEP_DEPTH_P = {5: 0.55, 6: 0.28, 7: 0.12, 8: 0.05}
UNPROBED_SITE_RATE = 0.01  # sites left at -1 (never a deep one)
BLEED_TOOTH_RATE = (0.12, 0.45)  # share of teeth with a bleeding row: healthy exam, deep exam
BLOOD_SITE_RATE = 0.4  # share of a bleeding tooth's sites with Blood (besides every site >= DEEP_MM mm)
PLAQUE_SITE_RATE = 0.15  # share of a bleeding tooth's sites with Plaque
CALCULUS_SITE_RATE = 0.05  # share of a bleeding tooth's sites with Calculus
SUPPURATION_MM = 6  # sites at least this deep (mm) may suppurate
SUPPURATION_SITE_RATE = 0.3  # share of those sites (of bleeding teeth) with Suppuration
FORCED_EXAM_SECONDS = (8 * 3600, 16 * 3600)  # time of day of an SRP-day exam without a completed visit, [low, high)
MEASURE_EDIT_SECONDS = (20 * 60, 50 * 60)  # DateTMeasureEdit after the visit's start, seconds [low, high)
SRP_CODES = ("D4341", "D4342")
SITES = ("MBvalue", "Bvalue", "DBvalue", "MLvalue", "Lvalue", "DLvalue")

# --- medical history ----------------------------------------------------------------------------------------
# (name, ICD-9, ICD-10, SNOMED CT, prevalence among adults, share resolved, share inactive)
CONDITIONS = (
    ("Hypertension", "401.9", "I10", "38341003", 0.22, 0.0, 0.05),
    ("Type 2 diabetes mellitus", "250.00", "E11.9", "44054006", 0.09, 0.0, 0.0),
    ("Asthma", "493.90", "J45.909", "195967001", 0.07, 0.1, 0.2),
    ("Hypothyroidism", "244.9", "E03.9", "40930008", 0.05, 0.0, 0.0),
    ("Hyperlipidemia", "272.4", "E78.5", "55822004", 0.12, 0.0, 0.05),
    ("Gastroesophageal reflux disease", "530.81", "K21.9", "235595009", 0.08, 0.2, 0.1),
    ("Osteoporosis", "733.00", "M81.0", "64859006", 0.03, 0.0, 0.0),
    ("Atrial fibrillation", "427.31", "I48.91", "49436004", 0.02, 0.0, 0.0),
    ("Coronary artery disease", "414.01", "I25.10", "53741008", 0.03, 0.0, 0.0),
    ("Depressive disorder", "311", "F32.A", "35489007", 0.06, 0.3, 0.1),
    ("Anxiety disorder", "300.00", "F41.9", "197480006", 0.06, 0.3, 0.1),
    ("Obstructive sleep apnea", "327.23", "G47.33", "78275009", 0.04, 0.0, 0.0),
    ("Heart murmur", "785.2", "R01.1", "88610006", 0.02, 0.2, 0.0),
    ("Epilepsy", "345.90", "G40.909", "84757009", 0.01, 0.0, 0.2),
    ("Tobacco use", "305.1", "F17.210", "77176002", 0.10, 0.3, 0.0),
    ("Pregnancy", "V22.2", "Z33.1", "77386006", 0.01, 0.9, 0.0),
)
SNOMED_PROBLEM = "55607006"  # disease.SnomedProblemType: OpenDental's default, "Problem"
HISTORY_ENTRY_DAYS = 365  # entered within this many days after the patient's entry (not before opening)
START_KNOWN_RATE = 0.4  # share of conditions with a DateStart (and, when resolved, a DateStop)
ONSET_DAYS = (30, 3650)  # DateStart this many days before the condition was entered, [low, high)

# ingredient-level RxNorm concepts (RxCui, name)
INGREDIENTS = (
    (723, "amoxicillin"), (5640, "ibuprofen"), (2358, "chlorhexidine"), (161, "acetaminophen"),
    (5489, "hydrocodone"), (2582, "clindamycin"), (7984, "penicillin V"), (9853, "sodium fluoride"),
    (29046, "lisinopril"), (6809, "metformin"), (83367, "atorvastatin"), (10582, "levothyroxine"),
    (17767, "amlodipine"), (1191, "aspirin"), (11289, "warfarin"), (435, "albuterol"), (7646, "omeprazole"),
    (36437, "sertraline"), (2670, "codeine"), (70618, "penicillin"),
)
# (MedName, RxCui): the practice's medication list; GenericNum = its own MedicationNum
MEDICATIONS = tuple((name.capitalize() if name[0].islower() else name, cui) for cui, name in INGREDIENTS)

# (Description, SnomedAllergy member, medication RxCui or 0, prevalence)
ALLERGIES = (
    ("Penicillin", "DrugAllergy", 70618, 0.08),
    ("Latex", "AllergyToSubstance", 0, 0.03),
    ("Codeine", "DrugIntolerance", 2670, 0.03),
    ("Sulfa drugs", "DrugAllergy", 0, 0.03),
    ("Aspirin", "DrugIntolerance", 1191, 0.015),
    ("Ibuprofen", "DrugIntolerance", 5640, 0.01),
    ("Amoxicillin", "DrugAllergy", 723, 0.01),
    ("Nickel", "AllergyToSubstance", 0, 0.01),
)
REACTIONS = ("", "", "", "Hives", "Rash", "Swelling", "Nausea", "Itching")
ALLERGY_INACTIVE_RATE = 0.05  # share of allergies with StatusIsActive 0
PENICILLIN_CLASS_RXCUI = (70618, 723)  # an active allergy to these (penicillin, amoxicillin): clindamycin instead

# (Drug, Sig, Disp, Refills, RxCui, IsControlled, DaysOfSupply)
RX_DEFS = (
    ("Ibuprofen 600 mg tablet", "Take 1 tablet by mouth every 6 hours as needed for pain", "20", "0", 5640, 0, 5),
    ("Hydrocodone/acetaminophen 5/325 mg tablet", "Take 1 tablet by mouth every 6 hours as needed for severe pain",
     "12", "0", 5489, 1, 3),
    ("Amoxicillin 500 mg capsule", "Take 1 capsule by mouth three times daily until gone", "21", "0", 723, 0, 7),
    ("Clindamycin 300 mg capsule", "Take 1 capsule by mouth four times daily until gone", "28", "0", 2582, 0, 7),
    ("Chlorhexidine gluconate 0.12% oral rinse", "Rinse with 15 ml for 30 seconds twice daily, then spit",
     "473 ml", "1", 2358, 0, 14),
    ("Acetaminophen 500 mg tablet", "Take 2 tablets by mouth every 6 hours as needed for pain", "24", "0", 161, 0, 3),
    ("Sodium fluoride 1.1% dental paste", "Brush on teeth at bedtime, spit, do not rinse", "100 g", "2", 9853, 0, 60),
    ("Penicillin V potassium 500 mg tablet", "Take 1 tablet by mouth four times daily until gone", "28", "0", 7984, 0,
     7),
)
RX_IBUPROFEN, RX_OPIOID, RX_AMOX, RX_CLINDA, RX_CHX = 0, 1, 2, 3, 4
EXTRACTION_CODES = ("D7140", "D7210", "D7240")
SIMPLE_EXTRACTION_CODE = "D7140"  # the one of them that is not surgical
EXTRACTION_RX_RATE = 0.85  # completed extractions with an analgesic prescription
SURGICAL_OPIOID_RATE = 0.3  # of surgical extractions' analgesics, the opioid one
SURGICAL_ANTIBIOTIC_RATE = 0.3  # surgical extractions also given an antibiotic
SRP_RINSE_RATE = 0.7  # completed SRP visits (patient, day) with a chlorhexidine rinse
PRINTED_RATE = 0.3  # scripts printed and handed over (PharmacyNum 0)
RX_SECONDS = (9 * 3600, 17 * 3600)  # time of day a script is written (DateTStamp), seconds [low, high)

PHARMACIES = ("Main Street Pharmacy", "Riverside Drug", "Valley Community Pharmacy", "Corner Apothecary",
              "Lakeside Pharmacy", "Hilltop Drug Store")
PHARMACIES_PER_CLINIC = 3


def build(ctx: Context, setup, people, tables: dict[str, pa.Table]) -> None:
    """Put the twelve tables into ``ctx`` and the perio ground truth into ``ctx.truth`` (module
    docstring)."""
    rng = ctx.stream(STREAM_OFFSET)
    _perio(ctx, rng, setup, people, tables)
    allergic = _medical_history(ctx, rng, people)
    _prescriptions(ctx, rng, setup, tables, allergic)


# ------------------------------------------------------------------------------------------------------------
def _code_nums(setup, codes) -> np.ndarray:
    return np.array([setup.code_num[c] for c in codes if c in setup.code_num], dtype=np.int64)


def _srp_windows(ctx: Context, setup, n_pat: int, pl: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Per PatNum index: the day SRP was first planned (-1: never) and the day it was done (the last
    completed SRP's ProcDate when none is still planned; a huge number otherwise)."""
    code = _c(pl, "CodeNum")
    status = _c(pl, "ProcStatus")
    stat = enum_codes("ProcStat")
    srp = np.isin(code, _code_nums(setup, SRP_CODES)) & np.isin(status, [stat["TP"], stat["C"]])
    pat = _c(pl, "PatNum")[srp]
    proc_day = _c(pl, "ProcDate")[srp]
    tp_day = _c(pl, "DateTP")[srp]
    tp_day = np.where(tp_day == ZERO_DAY, proc_day, tp_day)
    big = np.iinfo(np.int64).max // 4
    plan = np.full(n_pat + 1, big)
    np.minimum.at(plan, pat, tp_day)
    plan = np.where(plan == big, -1, plan)
    planned = np.zeros(n_pat + 1, bool)
    planned[pat[status[srp] == stat["TP"]]] = True
    done = np.full(n_pat + 1, -1)
    is_c = status[srp] == stat["C"]
    np.maximum.at(done, pat[is_c], proc_day[is_c])
    done = np.where(planned | (done < 0), big, done)
    plan[(plan > ctx.as_of)] = -1
    return plan, done


@dataclass(frozen=True)
class Visits:
    """Per ``appointment`` row: PatNum, AptDateTime (seconds) and its day number, the visit's hygienist
    (ProvHyg, else ProvNum), whether it was Complete by as_of; ``regular``: the rows that get a perio
    exam when spacing allows (completed adult hygiene visits of charted patients)."""

    pat: np.ndarray
    ts: np.ndarray
    day: np.ndarray
    prov: np.ndarray
    complete: np.ndarray
    regular: np.ndarray


@dataclass(frozen=True)
class Exams:
    """Perio exams, aligned arrays: PatNum, ExamDate (day number), ProvNum, the exam's time (seconds;
    DateTMeasureEdit once exams are placed), ``forced`` (1: the SRP plan day's exam; candidates only)."""

    pat: np.ndarray
    day: np.ndarray
    prov: np.ndarray
    ts: np.ndarray
    forced: np.ndarray | None = None


def _perio(ctx: Context, rng: np.random.Generator, setup, people, tables) -> None:
    """``perioexam`` and ``periomeasure``, and ``ctx.truth["perio_exams"]`` / ``["perio_followup"]``
    (module docstring)."""
    n_pat = people.n
    visits = _hygiene_visits(ctx, rng, people, tables["appointment"])
    plan, done = _srp_windows(ctx, setup, n_pat, tables["procedurelog"])
    exams = _space_exams(ctx, rng, n_pat, _exam_candidates(ctx, rng, people, visits, plan))
    deep, followup, latest, has_exam = _deep_exams(rng, n_pat, exams, plan, done)
    present = ~_missing_teeth(n_pat, tables["toothinitial"])[exams.pat][:, 1:]  # (exams, 32)
    depth = _depths(rng, deep, present)
    _put_perio(ctx, rng, exams, depth, present, deep)
    _perio_truth(ctx, exams, depth, present, followup, latest, has_exam)


def _hygiene_visits(ctx: Context, rng: np.random.Generator, people, ap: pa.Table) -> Visits:
    """The appointments as ``Visits``; draws which patients are charted (``PERIO_CHARTED_RATE``)."""
    apt_status = enum_codes("ApptStatus")
    a_pat = _c(ap, "PatNum")
    a_ts = _c(ap, "AptDateTime")
    a_day = a_ts // DAY
    a_prov = np.where(_c(ap, "ProvHyg") > 0, _c(ap, "ProvHyg"), _c(ap, "ProvNum"))
    complete = (_c(ap, "AptStatus") == apt_status["Complete"]) & (a_day <= ctx.as_of)
    age = (a_day - people.birth[np.maximum(a_pat, 1) - 1]) / 365.25
    charted = rng.random(people.n + 1) < PERIO_CHARTED_RATE
    regular = np.flatnonzero(complete & (_c(ap, "IsHygiene") == 1) & (age >= ADULT_AGE) & charted[a_pat])
    return Visits(pat=a_pat, ts=a_ts, day=a_day, prov=a_prov, complete=complete, regular=regular)


def _exam_candidates(ctx: Context, rng: np.random.Generator, people, visits: Visits, plan: np.ndarray) -> Exams:
    """The regular visits' exams, then one forced exam per SRP patient on the day SRP was first planned:
    at that day's completed appointment when there is one, else at a random time (``FORCED_EXAM_SECONDS``)
    with the patient's hygienist (else primary provider)."""
    srp_pats = np.flatnonzero(plan >= 0)
    done_rows = np.flatnonzero(visits.complete)
    key = visits.pat[done_rows] * 100_000 + (visits.day[done_rows] - ctx.opened)
    order = np.argsort(key, kind="stable")
    want = srp_pats * 100_000 + (plan[srp_pats] - ctx.opened)
    sorted_rows = np.append(done_rows[order], 0)  # a sentinel slot: searchsorted may return len(order)
    pos = np.searchsorted(key[order], want)
    hit = pos < len(order)
    hit[hit] = key[order][pos[hit]] == want[hit]
    hit_row = sorted_rows[pos]
    own_prov = np.where(people.sec_prov[srp_pats - 1] > 0, people.sec_prov[srp_pats - 1], people.pri_prov[srp_pats - 1])
    f_prov = np.where(hit, visits.prov[hit_row], own_prov)
    f_ts = np.where(hit, visits.ts[hit_row], plan[srp_pats] * DAY + rng.integers(*FORCED_EXAM_SECONDS, len(srp_pats)))
    regular = visits.regular
    return Exams(pat=np.concatenate([visits.pat[regular], srp_pats]),
                 day=np.concatenate([visits.day[regular], plan[srp_pats]]),
                 prov=np.concatenate([visits.prov[regular], f_prov]),
                 ts=np.concatenate([visits.ts[regular], f_ts]),
                 forced=np.concatenate([np.zeros(len(regular), np.int64), np.ones(len(srp_pats), np.int64)]))


def _space_exams(ctx: Context, rng: np.random.Generator, n_pat: int, cand: Exams) -> Exams:
    """The exams kept: per patient the first candidate of each ``EXAM_SPACING_DAYS`` period (a random phase
    per patient; a forced one first), none within ``MIN_GAP_DAYS`` of the previous unless forced; in
    ExamDate order (then PatNum), ``ts`` = DateTMeasureEdit (``MEASURE_EDIT_SECONDS`` into the visit)."""
    phase = rng.integers(0, EXAM_SPACING_DAYS, size=n_pat + 1)
    bucket = (cand.day - ctx.opened - phase[cand.pat]) // EXAM_SPACING_DAYS
    order = key_order(cand.pat, bucket, -cand.forced, cand.day)
    first = np.ones(len(order), bool)
    first[1:] = (cand.pat[order][1:] != cand.pat[order][:-1]) | (bucket[order][1:] != bucket[order][:-1])
    kept = order[first]
    kept = kept[key_order(cand.pat[kept], cand.day[kept])]
    close = np.zeros(len(kept), bool)
    close[1:] = (cand.pat[kept][1:] == cand.pat[kept][:-1]) & (cand.day[kept][1:] - cand.day[kept][:-1] < MIN_GAP_DAYS)
    kept = kept[~close | (cand.forced[kept] == 1)]
    ts = ctx.stamp(cand.ts[kept] + rng.integers(*MEASURE_EDIT_SECONDS, size=len(kept)))
    # exams in date order (then patient): PerioExamNum ascending with ExamDate
    order = key_order(cand.day[kept], cand.pat[kept])
    kept, ts = kept[order], ts[order]
    return Exams(pat=cand.pat[kept], day=cand.day[kept], prov=cand.prov[kept], ts=ts)


def _deep_exams(rng: np.random.Generator, n_pat: int, exams: Exams, plan: np.ndarray,
                done: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per exam whether it is deep; per PatNum index: on the follow-up list (``FOLLOWUP_RATE``), the index
    of the latest exam, whether the patient has an exam."""
    srp_deep = (plan[exams.pat] >= 0) & (exams.day >= plan[exams.pat]) & (exams.day < done[exams.pat])
    n_e = len(exams.pat)
    has_exam = np.zeros(n_pat + 1, bool)
    has_exam[exams.pat] = True
    followup = has_exam & (plan < 0) & (rng.random(n_pat + 1) < FOLLOWUP_RATE)
    latest = np.zeros(n_pat + 1, np.int64)
    latest[exams.pat] = np.arange(n_e)  # ExamDate ascending: the last write is the latest exam
    is_latest = np.zeros(n_e, bool)
    is_latest[latest[has_exam]] = True
    deep = srp_deep | (followup[exams.pat] & (is_latest | (rng.random(n_e) < EARLIER_DEEP_RATE)))
    return deep, followup, latest, has_exam


def _missing_teeth(n_pat: int, ti: pa.Table) -> np.ndarray:
    """(PatNum index, tooth 1-32; column 0 unused) -> marked missing in ``toothinitial`` (InitialType
    Missing)."""
    missing = np.zeros((n_pat + 1, 33), bool)
    ti_type = _c(ti, "InitialType")
    ti_tooth = np.array([int(t) if t.isdigit() else 0 for t in ti.column("ToothNum").to_pylist()], np.int64)
    is_missing = (ti_type == enum_codes("ToothInitialType")["Missing"]) & (ti_tooth >= 1) & (ti_tooth <= 32)
    missing[_c(ti, "PatNum")[is_missing], ti_tooth[is_missing]] = True
    return missing


def _depths(rng: np.random.Generator, deep: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Pocket depths (mm, int8, -1 not probed), exams x 32 teeth x 6 sites: ``HEALTHY_DEPTH_P``; a deep
    exam has 1 + Poisson(``DEEP_SITES_MEAN``) sites of present teeth drawn from ``DEEP_DEPTH_P``."""
    n_e = len(deep)
    depth = _draw_depths(rng, HEALTHY_DEPTH_P, (n_e, 32, 6))
    depth[rng.random((n_e, 32, 6), dtype=np.float32) < UNPROBED_SITE_RATE] = -1
    deep_rows = np.flatnonzero(deep)
    if len(deep_rows):
        k = 1 + rng.poisson(DEEP_SITES_MEAN, size=len(deep_rows))
        score = rng.random((len(deep_rows), 32 * 6))
        score[~np.repeat(present[deep_rows], 6, axis=1)] = 2.0  # never a missing tooth
        rank = np.argsort(np.argsort(score, axis=1), axis=1)
        chosen = (rank < k[:, None]) & (score < 2.0)
        mm = _draw_depths(rng, DEEP_DEPTH_P, chosen.shape)
        flat = depth[deep_rows].reshape(len(deep_rows), -1)
        depth[deep_rows] = np.where(chosen, mm, flat).reshape(len(deep_rows), 32, 6)
    return depth


def _put_perio(ctx: Context, rng: np.random.Generator, exams: Exams, depth: np.ndarray, present: np.ndarray,
               deep: np.ndarray) -> None:
    """``perioexam`` (one row per exam) and ``periomeasure``: per exam a Probing row per present tooth, a
    SkipTooth row per missing one, a BleedSupPlaqCalc row per bleeding tooth (``BLEED_TOOTH_RATE``)."""
    n_e = len(exams.pat)
    exam_num = np.arange(1, n_e + 1)
    ctx.put("perioexam", n_e, {"PerioExamNum": exam_num, "PatNum": exams.pat, "ExamDate": exams.day,
                               "ProvNum": exams.prov, "DateTMeasureEdit": exams.ts, "Note": ""})
    seq = enum_codes("PerioSequenceType")
    bleeds = present & (rng.random((n_e, 32)) < np.where(deep, BLEED_TOOTH_RATE[1], BLEED_TOOTH_RATE[0])[:, None])
    ex_p, tooth_p = np.nonzero(present)
    ex_s, tooth_s = np.nonzero(~present)
    ex_b, tooth_b = np.nonzero(bleeds)
    flags = _bleeding_flags(rng, depth[ex_b, tooth_b])
    m_exam = np.concatenate([ex_p, ex_s, ex_b])
    m_tooth = np.concatenate([tooth_p, tooth_s, tooth_b])
    m_seq = np.concatenate([np.full(len(ex_p), seq["Probing"]), np.full(len(ex_s), seq["SkipTooth"]),
                            np.full(len(ex_b), seq["BleedSupPlaqCalc"])])
    values = np.concatenate([depth[ex_p, tooth_p], np.full((len(ex_s), 6), -1, np.int8), flags.astype(np.int8)])
    order = key_order(m_exam, m_seq, m_tooth)
    n_m = len(order)
    m_values = {
        "PerioMeasureNum": np.arange(1, n_m + 1),
        "PerioExamNum": exam_num[m_exam[order]],
        "SequenceType": m_seq[order],
        "IntTooth": m_tooth[order] + 1,
        "ToothValue": np.where(m_seq[order] == seq["SkipTooth"], 1, -1),
        "SecDateTEntry": exams.ts[m_exam[order]],
        "SecDateTEdit": exams.ts[m_exam[order]],
    }
    for i, name in enumerate(SITES):
        m_values[name] = values[order, i].astype(np.int64)
    ctx.put("periomeasure", n_m, m_values)


def _perio_truth(ctx: Context, exams: Exams, depth: np.ndarray, present: np.ndarray, followup: np.ndarray,
                 latest: np.ndarray, has_exam: np.ndarray) -> None:
    """``ctx.truth["perio_exams"]`` (per exam) and ``["perio_followup"]`` (per patient with an exam, at the
    latest one): probed sites, sites >= ``DEEP_MM`` mm, the deepest probed site (mm)."""
    exam_num = np.arange(1, len(exams.pat) + 1)
    probed = present[:, :, None] & (depth >= 0)
    deep_sites = (probed & (depth >= DEEP_MM)).sum(axis=(1, 2))
    max_depth = np.where(probed, depth, -1).max(axis=(1, 2))
    probed_sites = probed.sum(axis=(1, 2))
    ctx.truth["perio_exams"] = pa.table({
        "PerioExamNum": exam_num, "PatNum": exams.pat, "ExamDate": exams.day, "ProbedSites": probed_sites,
        "DeepSites": deep_sites, "MaxDepth": max_depth.astype(np.int64)})
    pats = np.flatnonzero(has_exam)
    li = latest[pats]
    ctx.truth["perio_followup"] = pa.table({
        "PatNum": pats, "PerioExamNum": exam_num[li], "ExamDate": exams.day[li], "ProvNum": exams.prov[li],
        "DeepSites": deep_sites[li], "ProbedSites": probed_sites[li], "MaxDepth": max_depth[li].astype(np.int64),
        "NeedsFollowup": followup[pats]})


def _draw_depths(rng: np.random.Generator, probabilities: dict[int, float], shape: tuple) -> np.ndarray:
    """Depths (mm, int8) drawn from {depth: probability} (ascending depths), memory-light."""
    u = rng.random(shape, dtype=np.float32)
    mm = list(probabilities)
    depth = np.full(shape, mm[0], np.int8)
    for edge, step in zip(np.cumsum(list(probabilities.values()))[:-1], np.diff(mm)):
        depth += (u >= edge).astype(np.int8) * np.int8(step)
    return depth


def _bleeding_flags(rng: np.random.Generator, depth: np.ndarray) -> np.ndarray:
    """BleedingFlags per site of bleeding teeth (rows x 6): Blood 1 (always at a site >= DEEP_MM mm and at
    one site of each tooth at least), Suppuration 2, Plaque 4, Calculus 8; 0 for none."""
    shape = depth.shape
    flags = np.where((rng.random(shape) < BLOOD_SITE_RATE) | (depth >= DEEP_MM), 1, 0)
    flags |= np.where(rng.random(shape) < PLAQUE_SITE_RATE, 4, 0)
    flags |= np.where(rng.random(shape) < CALCULUS_SITE_RATE, 8, 0)
    flags |= np.where((depth >= SUPPURATION_MM) & (rng.random(shape) < SUPPURATION_SITE_RATE), 2, 0)
    if len(flags):
        flags[:, 0] |= np.where((flags & 1).any(axis=1), 0, 1)
    return flags


# ------------------------------------------------------------------------------------------------------------
def _stamps(ctx: Context, rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """A moment during office hours on a random day in [lo, hi] (day numbers), never after as_of."""
    lo = np.asarray(lo, np.int64)
    hi = np.maximum(np.asarray(hi, np.int64), lo)
    day = lo + (rng.random(len(lo)) * (hi - lo + 1)).astype(np.int64)
    return ctx.stamp(day * DAY + rng.integers(*OFFICE_SECONDS, size=len(lo)))


def _entry_stamps(ctx: Context, rng: np.random.Generator, people, pat: np.ndarray) -> np.ndarray:
    """When each history row of PatNum ``pat`` was entered (seconds): within ``HISTORY_ENTRY_DAYS`` after the
    patient's entry (or the opening day), never after as_of."""
    entry = np.maximum(people.entry[pat - 1], ctx.opened)
    return _stamps(ctx, rng, entry, np.minimum(entry + HISTORY_ENTRY_DAYS, ctx.as_of))


def _medical_history(ctx: Context, rng: np.random.Generator, people) -> np.ndarray:
    """diseasedef, disease, rxnorm, medication, allergydef, allergy. Returns per PatNum index whether the
    patient has an active penicillin-class allergy."""
    status = enum_codes("PatientStatus")
    real = np.isin(people.status, [status["Patient"], status["Inactive"], status["Archived"]])
    known = real & (people.entry <= ctx.as_of)
    _disease_defs(ctx)
    _diseases(ctx, rng, people, known)
    med_num = _medication_lists(ctx)
    return _allergies(ctx, rng, people, known, med_num)


def _disease_defs(ctx: Context) -> None:
    """``diseasedef``: one row per ``CONDITIONS`` entry (name, ICD-9, ICD-10, SNOMED CT)."""
    n_def = len(CONDITIONS)
    ctx.put("diseasedef", n_def, {
        "DiseaseDefNum": np.arange(1, n_def + 1),
        "DiseaseName": [c[0] for c in CONDITIONS],
        "ItemOrder": np.arange(n_def),
        "IsHidden": 0,
        "DateTStamp": ctx.setup_ts,
        "ICD9Code": [c[1] for c in CONDITIONS],
        "Icd10Code": [c[2] for c in CONDITIONS],
        "SnomedCode": [c[3] for c in CONDITIONS],
    })


def _diseases(ctx: Context, rng: np.random.Generator, people, known: np.ndarray) -> None:
    """``disease``: per adult patient (index) in ``known`` and condition, a row at the condition's
    prevalence; ProbStatus by its resolved/inactive shares; DateStart for ``START_KNOWN_RATE`` of rows."""
    n_def = len(CONDITIONS)
    adult = (ctx.as_of - people.birth) / 365.25 >= ADULT_AGE
    eligible = np.flatnonzero(known & adult)
    prevalence = np.array([c[4] for c in CONDITIONS])
    has = rng.random((len(eligible), n_def)) < prevalence[None, :]
    pi, di = np.nonzero(has)
    pat = eligible[pi] + 1
    n_d = len(pat)
    u = rng.random(n_d)
    resolved = np.array([c[5] for c in CONDITIONS])[di]
    inactive = np.array([c[6] for c in CONDITIONS])[di]
    prob = enum_codes("ProblemStatus")
    p_status = np.where(u < resolved, prob["Resolved"], np.where(u < resolved + inactive, prob["Inactive"],
                                                                  prob["Active"]))
    stamp = _entry_stamps(ctx, rng, people, pat)
    start_known = rng.random(n_d) < START_KNOWN_RATE
    start = np.where(start_known, stamp // DAY - rng.integers(*ONSET_DAYS, size=n_d), ZERO_DAY)
    stop = np.where(start_known & (p_status == prob["Resolved"]), stamp // DAY, ZERO_DAY)
    order = key_order(stamp, pat, di)
    ctx.put("disease", n_d, {
        "DiseaseNum": np.arange(1, n_d + 1),
        "PatNum": pat[order],
        "DiseaseDefNum": di[order] + 1,
        "PatNote": "",
        "DateTStamp": stamp[order],
        "ProbStatus": p_status[order],
        "DateStart": start[order],
        "DateStop": stop[order],
        "SnomedProblemType": SNOMED_PROBLEM,
        "FunctionStatus": enum_codes("FunctionalStatus")["Problem"],
    })


def _medication_lists(ctx: Context) -> dict[int, int]:
    """``rxnorm`` (one row per ``INGREDIENTS``) and ``medication`` (``MEDICATIONS``). Returns RxCui ->
    MedicationNum."""
    n_ing = len(INGREDIENTS)
    ctx.put("rxnorm", n_ing, {
        "RxNormNum": np.arange(1, n_ing + 1),
        "RxCui": [str(cui) for cui, _ in INGREDIENTS],
        "MmslCode": "",
        "Description": [name for _, name in INGREDIENTS],
    })
    n_med = len(MEDICATIONS)
    med_num = {cui: i + 1 for i, (_, cui) in enumerate(MEDICATIONS)}
    ctx.put("medication", n_med, {
        "MedicationNum": np.arange(1, n_med + 1),
        "MedName": [name for name, _ in MEDICATIONS],
        "GenericNum": np.arange(1, n_med + 1),
        "Notes": "",
        "DateTStamp": ctx.setup_ts,
        "RxCui": np.array([cui for _, cui in MEDICATIONS], np.int64),
    })
    return med_num


def _allergies(ctx: Context, rng: np.random.Generator, people, known: np.ndarray,
               med_num: dict[int, int]) -> np.ndarray:
    """``allergydef`` (``ALLERGIES``) and ``allergy`` (per patient index in ``known`` and allergy, at its
    prevalence). Returns per PatNum index whether an active allergy is penicillin-class."""
    n_all = len(ALLERGIES)
    snomed = enum_codes("SnomedAllergy")
    ctx.put("allergydef", n_all, {
        "AllergyDefNum": np.arange(1, n_all + 1),
        "Description": [a[0] for a in ALLERGIES],
        "IsHidden": 0,
        "DateTStamp": ctx.setup_ts,
        "SnomedType": np.array([snomed[a[1]] for a in ALLERGIES]),
        "MedicationNum": np.array([med_num.get(a[2], 0) for a in ALLERGIES], np.int64),
        "UniiCode": "",
    })
    candidates = np.flatnonzero(known)
    has = rng.random((len(candidates), n_all)) < np.array([a[3] for a in ALLERGIES])[None, :]
    pi, ai = np.nonzero(has)
    pat = candidates[pi] + 1
    n_a = len(pat)
    stamp = _entry_stamps(ctx, rng, people, pat)
    active = rng.random(n_a) >= ALLERGY_INACTIVE_RATE
    reaction = rng.integers(0, len(REACTIONS), size=n_a)
    order = key_order(stamp, pat, ai)
    ctx.put("allergy", n_a, {
        "AllergyNum": np.arange(1, n_a + 1),
        "AllergyDefNum": ai[order] + 1,
        "PatNum": pat[order],
        "Reaction": strings(REACTIONS, reaction[order]),
        "StatusIsActive": active[order].astype(np.int64),
        "DateTStamp": stamp[order],
        "DateAdverseReaction": ZERO_DAY,
        "SnomedReaction": "",
    })
    pen_class = np.isin(ai, [i for i, a in enumerate(ALLERGIES) if a[2] in PENICILLIN_CLASS_RXCUI])
    allergic = np.zeros(people.n + 1, bool)
    allergic[pat[pen_class & active]] = True
    return allergic


def _prescriptions(ctx: Context, rng: np.random.Generator, setup, tables, allergic: np.ndarray) -> None:
    """rxdef, pharmacy, pharmclinic, rxpat."""
    _rx_defs(ctx)
    clinic_ph = _pharmacies(ctx, tables["clinic"])
    pl = tables["procedurelog"]
    rows, rx = _scripts(ctx, rng, setup, pl, allergic)
    _put_rxpat(ctx, rng, setup, pl, rows, rx, clinic_ph)


def _rx_defs(ctx: Context) -> None:
    """``rxdef``: one template per ``RX_DEFS`` entry."""
    n_def = len(RX_DEFS)
    ctx.put("rxdef", n_def, {
        "RxDefNum": np.arange(1, n_def + 1),
        "Drug": [d[0] for d in RX_DEFS],
        "Sig": [d[1] for d in RX_DEFS],
        "Disp": [d[2] for d in RX_DEFS],
        "Refills": [d[3] for d in RX_DEFS],
        "Notes": "",
        "IsControlled": np.array([d[5] for d in RX_DEFS]),
        "RxCui": np.array([d[4] for d in RX_DEFS], np.int64),
        "IsProcRequired": np.array([d[5] for d in RX_DEFS]),
        "PatientInstruction": "",
    })


def _pharmacies(ctx: Context, clinic: pa.Table) -> list[np.ndarray]:
    """``pharmacy`` (``PHARMACIES_PER_CLINIC`` per clinic, near it) and ``pharmclinic``. Returns per clinic
    index the PharmacyNums serving it."""
    n_clinics = clinic.num_rows
    n_ph = min(len(PHARMACIES), PHARMACIES_PER_CLINIC * n_clinics)
    home = np.arange(n_ph) % n_clinics  # clinic index each pharmacy is near
    area = [p[:3] for p in clinic.column("Phone").to_pylist()]
    ctx.put("pharmacy", n_ph, {
        "PharmacyNum": np.arange(1, n_ph + 1),
        "PharmID": "",
        "StoreName": list(PHARMACIES[:n_ph]),
        "Phone": [f"{area[h]}555015{i}" for i, h in enumerate(home)],
        "Fax": [f"{area[h]}555016{i}" for i, h in enumerate(home)],
        "Address": [f"{120 + 35 * i} Commerce Way" for i in range(n_ph)],
        "Address2": "",
        "City": strings(clinic.column("City").to_pylist(), home),
        "State": strings(clinic.column("State").to_pylist(), home),
        "Zip": strings(clinic.column("Zip").to_pylist(), home),
        "Note": "",
        "DateTStamp": ctx.setup_ts,
    })
    # every pharmacy serves its own clinic; with two clinics, the first one serves both
    link_ph = np.concatenate([np.arange(n_ph), [0] if n_clinics > 1 else []]).astype(np.int64)
    link_cl = np.concatenate([home, [1] if n_clinics > 1 else []]).astype(np.int64)
    order = key_order(link_ph, link_cl)
    n_link = len(order)
    ctx.put("pharmclinic", n_link, {"PharmClinicNum": np.arange(1, n_link + 1), "PharmacyNum": link_ph[order] + 1,
                                    "ClinicNum": link_cl[order] + 1})
    return [link_ph[link_cl == c] + 1 for c in range(n_clinics)]


def _scripts(ctx: Context, rng: np.random.Generator, setup, pl: pa.Table,
             allergic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The prescriptions: (procedurelog row, RX_DEFS index) per script. Analgesics for completed extractions
    (``EXTRACTION_RX_RATE``), antibiotics after surgical ones, a rinse per completed SRP visit."""
    code = _c(pl, "CodeNum")
    pat = _c(pl, "PatNum")
    done = _c(pl, "ProcStatus") == enum_codes("ProcStat")["C"]
    proc_day = _c(pl, "ProcDate")
    ext = np.flatnonzero(done & np.isin(code, _code_nums(setup, EXTRACTION_CODES)) & (proc_day <= ctx.as_of))
    ext = ext[rng.random(len(ext)) < EXTRACTION_RX_RATE]
    surgical = code[ext] != setup.code_num[SIMPLE_EXTRACTION_CODE]
    analgesic = np.where(surgical & (rng.random(len(ext)) < SURGICAL_OPIOID_RATE), RX_OPIOID, RX_IBUPROFEN)
    abx = ext[surgical & (rng.random(len(ext)) < SURGICAL_ANTIBIOTIC_RATE)]
    abx_def = np.where(allergic[pat[abx]], RX_CLINDA, RX_AMOX)
    srp = np.flatnonzero(done & np.isin(code, _code_nums(setup, SRP_CODES)) & (proc_day <= ctx.as_of))
    srp = srp[key_order(pat[srp], proc_day[srp], srp)]
    visit_first = np.ones(len(srp), bool)
    visit_first[1:] = (pat[srp][1:] != pat[srp][:-1]) | (proc_day[srp][1:] != proc_day[srp][:-1])
    srp = srp[visit_first]
    srp = srp[rng.random(len(srp)) < SRP_RINSE_RATE]
    rows = np.concatenate([ext, abx, srp])
    rx = np.concatenate([analgesic, abx_def, np.full(len(srp), RX_CHX)]).astype(np.int64)
    return rows, rx


def _put_rxpat(ctx: Context, rng: np.random.Generator, setup, pl: pa.Table, rows: np.ndarray, rx: np.ndarray,
               clinic_ph: list[np.ndarray]) -> None:
    """``rxpat``: one row per script, on its procedure's day, clinic and provider; a random pharmacy of the
    clinic (``clinic_ph``), or none (PharmacyNum 0, Printed) for ``PRINTED_RATE`` of scripts."""
    n = len(rows)
    n_clinics = len(clinic_ph)
    day = _c(pl, "ProcDate")[rows]
    stamp = ctx.stamp(day * DAY + rng.integers(*RX_SECONDS, size=n))
    order = key_order(day, stamp, rows, rx)
    rows, rx, stamp, day = rows[order], rx[order], stamp[order], day[order]
    cl = _c(pl, "ClinicNum")[rows]
    cl_idx = np.clip(cl - 1, 0, n_clinics - 1)
    pick = rng.integers(0, 1 << 30, size=n)
    pharmacy = np.array([clinic_ph[c][k % len(clinic_ph[c])] for c, k in zip(cl_idx.tolist(), pick.tolist())],
                        np.int64) if n else np.zeros(0, np.int64)
    printed = rng.random(n) < PRINTED_RATE
    send = enum_codes("RxSendStatus")
    prov = _c(pl, "ProvNum")[rows]
    ctx.put("rxpat", n, {
        "RxNum": np.arange(1, n + 1),
        "PatNum": _c(pl, "PatNum")[rows],
        "RxDate": day,
        "Drug": strings([d[0] for d in RX_DEFS], rx),
        "Sig": strings([d[1] for d in RX_DEFS], rx),
        "Disp": strings([d[2] for d in RX_DEFS], rx),
        "Refills": strings([d[3] for d in RX_DEFS], rx),
        "ProvNum": prov,
        "Notes": "",
        "PharmacyNum": np.where(printed, 0, pharmacy),
        "IsControlled": np.array([d[5] for d in RX_DEFS])[rx],
        "DateTStamp": stamp,
        "SendStatus": np.where(printed, send["Printed"], send["CalledIn"]),
        "RxCui": np.array([d[4] for d in RX_DEFS], np.int64)[rx],
        "IsProcRequired": np.array([d[5] for d in RX_DEFS])[rx],
        "ProcNum": _c(pl, "ProcNum")[rows],
        "DaysOfSupply": np.array([d[6] for d in RX_DEFS], np.float64)[rx],
        "ClinicNum": cl,
        "UserNum": setup.prov_user[prov],
        "RxType": enum_codes("RxTypes")["Rx"],
    })
