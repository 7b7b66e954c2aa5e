"""Issue #14's forms, tasks and bookkeeping tables, derived from the finished practice (a later stage).

Every random draw comes from ``ctx.stream(STREAM_OFFSET)``, so no other table changes. Existing tables
amended: ``task``'s rows (the broken-appointment calls of ``extras``) are filed in the "Front desk" task
list (``TaskListNum`` 1 instead of 0) and post-op call tasks are appended (Clinical list); ``procedurelog`` and ``procedurecode`` gain the group-note rows
(below), appended after every existing row.

- ``sheetdef`` + ``sheetfielddef``: two patient forms shaped on OpenDental's internal ones
  (``OpenDentBusiness/Resources/PatientRegistration.xml``, ``MedicalHist.xml``): "Registration Form"
  (SheetType PatientForm, 9 fields) and "Medical History" (SheetType MedicalHistory, 9 fields), with
  OpenDental's field names (``LName``, ``allergy:Penicillin``, ``problem:Diabetes``...) and positions.
- ``sheet`` + ``sheetfield``: a registration form and a medical history filled in before each patient's
  completed new-patient appointment (``appointment.IsNewPatient``), and a medical history update at the
  first completed hygiene visit of each later year (years counted from the new-patient visit, or, for
  patients who came before ``start``, from a random day of the year before ``start``). Field values are
  copied from the definitions (static text) or filled from the patient row (names, birth date,
  phones...); check boxes hold "X" or ""; the signature box is left empty (unsigned).
- ``tasklist`` ("Front desk", "Insurance", "Clinical"), ``tasksubscription`` (front desk users and the
  admin on Front desk, the billing user and the admin on Insurance, provider users on Clinical),
  ``tasknote`` (a call note on ``TASK_NOTE_RATE`` of the tasks, by the task's user, between its entry and
  its finish or ``as_of``), ``taskhist`` (OpenDental's copy of a task as it was before an edit: one per
  note, IsNoteChange 1, and one when a task was set Done), ``taskunread`` (the tasks still New at
  ``as_of``, for each subscriber of their list other than their author). Appended to ``task``: a post-op
  call (Clinical list) after ``POSTOP_CALL_RATE`` of the completed extractions and root canals.
- ``procmultivisit``: a group per crown (D2740, D2750) with its core buildup (D2950) on the same
  patient, tooth and appointment, both treatment-planned or complete; ProcStatus copied from the
  procedure, IsInProcess as ``ProcMultiVisits.IsGroupInProcess`` (one TP/TPi and one C in the group).
- ``treatplanattach``: each Active treatment plan's procedures (the patient's TP procedures), Priority
  copied. ``treatplanparam``: one per Saved plan (the print options of ``ControlTreat.SendTreatPlanParam``).
- ``statementprod``: per statement, the production it listed (``StatementProds.CreateManyForStatement``):
  the family's completed procedures, unattached adjustments and pay plan debits dated in its range.
- ``entrylog``: one row per AppointmentCreate security log entry (``SecurityLogs.MakeLogEntry``).
- ``autocode``, ``codegroup``: OpenDental's stock rows (``AutoCodes.SetToDefaultMySQL``; the frequency
  limitation groups of ``ConvertDatabases8.ConvertFrequencyLimitationPreferences`` with their default
  codes). ``program`` + ``programproperty``: a handful of bridges, only the imaging one enabled, every
  property value empty or a documented default (never a credential).
- ``procgroupitem``: group notes (``ControlChart.menuItemGroupSelected_Click``) on ``GROUP_NOTE_RATE`` of
  the completed visits with 2+ completed procedures: a ~GRP~ procedure (status EC, fee 0, AptNum 0) is
  APPENDED to ``procedurelog`` (and the ~GRP~ code to ``procedurecode``), and each grouped procedure
  links to it. These two existing tables gain rows; none of their existing rows changes.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .columns import append_rows, strings
from .context import Context
from .extras import _c  # numpy view of an Arrow column (dates as day numbers, datetimes as seconds)
from .practice import enum_codes
from .util import DAY, ZERO_DAY, ZERO_TS, expand, group_firsts, key_order, rank_within

TABLES = ("sheetdef", "sheetfielddef", "sheet", "sheetfield", "tasklist", "tasksubscription", "tasknote",
          "taskhist", "taskunread", "procmultivisit", "treatplanattach", "treatplanparam", "statementprod",
          "entrylog", "autocode", "codegroup", "program", "programproperty", "procgroupitem")
STREAM_OFFSET = 9401

MEDHIST_INTERVAL_DAYS = 365  # a medical history update at the first hygiene visit of each such period
SHEET_LEAD_MINUTES = (5, 25)  # forms are filled in this many minutes before the appointment
MED_RATE = 0.30  # share of patients listing a medication
YES_RATES = {"allergy:Penicillin": 0.08, "problem:Diabetes": 0.09}  # share of patients answering Y
TASK_NOTE_RATE = 0.4  # share of tasks with a call note
TASK_NOTE_SPAN = (0.05, 0.95)  # the note's moment: this part of the way from the task's entry to its end, uniform
POSTOP_CODES = ("D7140", "D7210", "D7240", "D3310", "D3320", "D3330")  # extractions and root canals
POSTOP_CALL_RATE = 0.8  # share of them followed by a post-op call task (Clinical list)
TREATPLAN_SHOW_COMPLETED = 0
GROUP_NOTE_RATE = 0.1  # share of completed visits with 2+ completed procedures given a group note
GROUP_DELAY_SECONDS = (60, 900)
GROUP_NOTE_ICD_VERSION = 10  # as the practice's other procedures  # a multi-visit group is made this long after its procedures are entered  # ControlTreat's "Show Completed Work" default off

APT = enum_codes("ApptStatus")
PROC = enum_codes("ProcStat")
SHEET_TYPE = enum_codes("SheetTypeEnum")
FIELD = enum_codes("SheetFieldType")
ALIGN = enum_codes("HorizontalAlignment")
POSITION = enum_codes("PatientPosition")
TASK_STATUS = enum_codes("TaskStatusEnum")

# (FieldType, FieldName, FieldValue, XPos, YPos, Width, Height, RadioButtonValue, TabOrder, FontSize, bold)
_REGISTRATION = (
    ("StaticText", "", "PATIENT INFORMATION", 225, 100, 400, 19, "", 0, 12.0, 1),
    ("InputField", "LName", "", 100, 227, 225, 19, "", 1, 12.0, 0),
    ("InputField", "FName", "", 350, 227, 176, 19, "", 2, 12.0, 0),
    ("InputField", "Birthdate", "", 125, 271, 100, 19, "", 5, 12.0, 0),
    ("CheckBox", "Position", "", 713, 275, 13, 13, "Married", 9, 0.0, 0),
    ("CheckBox", "Position", "", 758, 275, 13, 13, "Single", 10, 0.0, 0),
    ("InputField", "WirelessPhone", "", 450, 294, 150, 19, "", 12, 12.0, 0),
    ("InputField", "Email", "", 100, 317, 700, 19, "", 13, 12.0, 0),
    ("InputField", "Zip", "", 500, 607, 100, 19, "", 38, 12.0, 0),
)
_MEDICAL_HISTORY = (
    ("StaticText", "", "MEDICAL HISTORY", 50, 50, 750, 19, "", 0, 12.0, 1),
    ("InputField", "LName", "", 125, 87, 225, 19, "", 1, 12.0, 0),
    ("InputField", "FName", "", 450, 87, 150, 19, "", 2, 12.0, 0),
    ("InputField", "inputMed1", "", 100, 209, 300, 19, "", 9, 12.0, 0),
    ("CheckBox", "allergy:Penicillin", "", 451, 428, 13, 13, "Y", 31, 0.0, 0),
    ("CheckBox", "allergy:Penicillin", "", 476, 428, 13, 13, "N", 32, 0.0, 0),
    ("CheckBox", "problem:Diabetes", "", 51, 639, 13, 13, "Y", 42, 0.0, 0),
    ("CheckBox", "problem:Diabetes", "", 76, 639, 13, 13, "N", 43, 0.0, 0),
    ("SigBox", "", "", 225, 994, 400, 81, "", 0, 0.0, 0),
)
# SheetDefNum 1 and 2: (Description, SheetType, RevID, fields)
SHEET_DEFS = (("Registration Form", SHEET_TYPE["PatientForm"], 1, _REGISTRATION),
              ("Medical History", SHEET_TYPE["MedicalHistory"], 10, _MEDICAL_HISTORY))
_MEDICATIONS = ("Lisinopril 10 mg", "Metformin 500 mg", "Atorvastatin 20 mg", "Levothyroxine 50 mcg",
                "Amlodipine 5 mg", "Omeprazole 20 mg", "Sertraline 50 mg", "Albuterol inhaler")

TASK_LISTS = ("Front desk", "Insurance", "Clinical")
_TASK_NOTES = ("Left voicemail.", "Patient will call back.", "Sent text message.", "No answer, will try again.")

_AUTOCODES = ("Amalgam", "Composite", "Root Canal", "PFM Bridge", "Ceramic Bridge", "Denture", "Immediate Denture",
              "Resin Base Partial", "Cast Metal Partial", "Flex Base Partial", "BU/P&C", "RCT Retreat")
# (GroupName, ProcCodes, ItemOrder, CodeGroupFixed name, ShowInAgeLimit)
_CODE_GROUPS = (
    ("BW", "D0272,D0274", 0, "BW", 0),
    ("Exam", "D0120,D0150", 1, "Exam", 0),
    ("Pano/FMX", "D0210,D0330", 2, "PanoFMX", 0),
    ("Cancer Screening", "D0431", 3, "None", 0),
    ("Prophy", "D1110,D1120", 4, "Prophy", 0),
    ("Fluoride", "D1206,D1208", 5, "Fluoride", 1),
    ("Sealant", "D1351", 6, "Sealant", 1),
    ("Crown", "D2740,D2750,D2751,D2752,D2780,D2781,D2782,D2783,D2790,D2791,D2792,D2794", 7, "None", 0),
    ("SRP", "D4341,D4342", 8, "SRP", 0),
    ("Full Debridement", "D4355", 9, "FMDebride", 0),
    ("Perio Maint", "D4910", 10, "Perio", 0),
    ("Dentures", "D5110,D5120,D5130,D5140,D5211,D5212,D5213,D5214,D5221,D5222,D5223,D5224,D5225,D5226", 11, "None", 0),
    ("Implants", "D6010", 12, "None", 0),
)
_PAT_OR_CHART = "Enter 0 to use PatientNum, or 1 to use ChartNum"
# (ProgName, ProgDesc, Enabled, [(PropertyDesc, PropertyValue, IsMasked)])
_PROGRAMS = (
    ("Dexis", "Dexis", 1, [(_PAT_OR_CHART, "0", 0), ("InfoFile path", "", 0)]),
    ("Apteryx", "Apteryx", 0, [(_PAT_OR_CHART, "0", 0)]),
    ("VixWin", "VixWin", 0, [(_PAT_OR_CHART, "0", 0), ("Image Path", "", 0)]),
    ("Schick", "Schick", 0, [("Schick Version 4 or 5", "4", 0)]),
    ("Xcharge", "X-Charge", 0, [("Username", "", 0), ("Password", "", 1), ("PaymentType", "0", 0)]),
    ("PayConnect", "PayConnect", 0, [("Username", "", 0), ("Password", "", 1), ("PaymentType", "0", 0)]),
    ("CareCredit", "CareCredit", 0, [("Merchant Number", "", 0)]),
    ("Podium", "Podium", 0, [("Enter your Podium API token", "", 1)]),
)


def build(ctx: Context, setup, people, tables: dict[str, pa.Table]) -> None:
    """Put this stage's tables into ``ctx`` and file the existing tasks in the Front desk list
    (``tables["task"]`` amended in place). See the module docstring."""
    rng = ctx.stream(STREAM_OFFSET)
    _sheets(ctx, rng, people, tables)
    _tasks(ctx, rng, setup, tables)
    _procmultivisit(ctx, rng, setup, tables)
    _treatplan_links(ctx, tables)
    _statementprod(ctx, people, tables)
    _entrylog(ctx, tables)
    _reference(ctx)
    _group_notes(ctx, rng, setup, tables)


# --- patient forms -------------------------------------------------------------------------------------

def _sheet_defs(ctx: Context) -> None:
    created = ctx.setup_ts
    n = len(SHEET_DEFS)
    ctx.put("sheetdef", n, {
        "SheetDefNum": np.arange(1, n + 1),
        "Description": [d[0] for d in SHEET_DEFS],
        "SheetType": np.array([d[1] for d in SHEET_DEFS]),
        "FontSize": 10.0, "FontName": "Arial", "Width": 850, "Height": 1100, "IsLandscape": 0, "PageCount": 1,
        "IsMultiPage": 0, "BypassGlobalLock": enum_codes("BypassLockStatus")["NeverBypass"], "HasMobileLayout": 1,
        "DateTCreated": created, "RevID": np.array([d[2] for d in SHEET_DEFS]),
    })
    rows = [(k + 1, f) for k, d in enumerate(SHEET_DEFS) for f in d[3]]
    m = len(rows)
    col = {name: [f[i] for _, f in rows] for i, name in enumerate(
        ("FieldType", "FieldName", "FieldValue", "XPos", "YPos", "Width", "Height", "RadioButtonValue", "TabOrder",
         "FontSize", "FontIsBold"))}
    ctx.put("sheetfielddef", m, {
        "SheetFieldDefNum": np.arange(1, m + 1),
        "SheetDefNum": np.array([k for k, _ in rows]),
        "FieldType": np.array([FIELD[t] for t in col["FieldType"]]),
        "FieldName": col["FieldName"], "FieldValue": col["FieldValue"],
        "FontSize": np.array(col["FontSize"]),
        "FontName": ["Arial" if s else "" for s in col["FontSize"]],
        "FontIsBold": np.array(col["FontIsBold"]),
        **{k: np.array(col[k]) for k in ("XPos", "YPos", "Width", "Height", "TabOrder")},
        "RadioButtonValue": col["RadioButtonValue"],
        "TextAlign": np.array([ALIGN["Center"] if t == "StaticText" else ALIGN["Left"] for t in col["FieldType"]]),
        "Language": "",
    })


def _sheet_events(ctx: Context, rng: np.random.Generator, people, ap: pa.Table):
    """(patient index, appointment row, is registration+history) of every form-filling visit."""
    status = _c(ap, "AptStatus")
    pat = _c(ap, "PatNum") - 1
    day = _c(ap, "AptDateTime") // DAY
    done = status == APT["Complete"]
    newp = np.flatnonzero(done & (_c(ap, "IsNewPatient") == 1))
    newp = newp[key_order(pat[newp], day[newp], newp)]
    newp = newp[group_firsts(pat[newp])]
    anchor = ctx.start - rng.integers(1, MEDHIST_INTERVAL_DAYS + 1, size=people.n)
    has_np = np.zeros(people.n, dtype=bool)
    has_np[pat[newp]] = True
    anchor[pat[newp]] = day[newp]
    hyg = np.flatnonzero(done & (_c(ap, "IsHygiene") == 1) & (day > anchor[pat]))
    period = (day[hyg] - anchor[pat[hyg]]) // MEDHIST_INTERVAL_DAYS
    keep = (period >= 1) | ~has_np[pat[hyg]]
    hyg, period = hyg[keep], period[keep]
    order = key_order(pat[hyg], period, day[hyg], hyg)
    hyg, period = hyg[order], period[order]
    first = np.ones(len(hyg), dtype=bool)
    first[1:] = (pat[hyg][1:] != pat[hyg][:-1]) | (period[1:] != period[:-1])
    hyg = hyg[first]
    rows = np.concatenate([newp, hyg])
    return pat[rows], rows, np.concatenate([np.ones(len(newp), bool), np.zeros(len(hyg), bool)])


def _sheets(ctx: Context, rng: np.random.Generator, people, tables) -> None:
    _sheet_defs(ctx)
    ap = tables["appointment"]
    ev_pat, ev_apt, ev_reg = _sheet_events(ctx, rng, people, ap)
    lead = rng.integers(SHEET_LEAD_MINUTES[0] * 60, SHEET_LEAD_MINUTES[1] * 60 + 1, size=len(ev_pat))
    when = ctx.stamp(_c(ap, "AptDateTime")[ev_apt] - lead)
    # a registration form (def 1) and a medical history (def 2) at new-patient visits, a history otherwise
    s_pat = np.concatenate([ev_pat[ev_reg], ev_pat])
    s_def = np.concatenate([np.ones(int(ev_reg.sum()), np.int64), np.full(len(ev_pat), 2)])
    s_when = np.concatenate([when[ev_reg], when + 60 * np.where(ev_reg, 5, 0)])
    s_clinic = np.concatenate([_c(ap, "ClinicNum")[ev_apt][ev_reg], _c(ap, "ClinicNum")[ev_apt]])
    order = key_order(s_when, s_pat, s_def)
    s_pat, s_def, s_when, s_clinic = s_pat[order], s_def[order], s_when[order], s_clinic[order]
    n = len(order)
    ctx.put("sheet", n, {
        "SheetNum": np.arange(1, n + 1),
        "SheetType": np.array([d[1] for d in SHEET_DEFS])[s_def - 1],
        "PatNum": s_pat + 1,
        "DateTimeSheet": s_when,
        "FontSize": 10.0, "FontName": "Arial", "Width": 850, "Height": 1100,
        "Description": strings([d[0] for d in SHEET_DEFS], s_def - 1),
        "SheetDefNum": s_def,
        "ClinicNum": s_clinic,
        "DateTSheetEdited": s_when,
        "HasMobileLayout": 1,
        "RevID": np.array([d[2] for d in SHEET_DEFS])[s_def - 1],
    })
    _sheet_fields(ctx, rng, people, tables["patient"], s_pat, s_def)


def _patient_answers(rng: np.random.Generator, people, pt: pa.Table) -> dict[str, pa.Array]:
    """Per patient (PatNum order) the value of every input field and the state of every check box pair."""
    n = people.n
    birth = pt.column("Birthdate")
    answers: dict[str, pa.Array] = {name: pt.column(name).combine_chunks()
                                    for name in ("LName", "FName", "WirelessPhone", "Email", "Zip")}
    text = pc.strftime(birth.combine_chunks().cast(pa.timestamp("s")), format="%m/%d/%Y")
    answers["Birthdate"] = pc.if_else(pa.array(_c(pt, "Birthdate") > ZERO_DAY), text, "")
    meds = [""] + list(_MEDICATIONS)
    pick = np.where(rng.random(n) < MED_RATE, 1 + rng.integers(0, len(_MEDICATIONS), size=n), 0)
    answers["inputMed1"] = strings(meds, pick)
    position = _c(pt, "Position")
    checked = {("Position", "Married"): position == POSITION["Married"],
               ("Position", "Single"): position == POSITION["Single"]}
    for name, rate in YES_RATES.items():
        yes = rng.random(n) < rate
        checked[(name, "Y")], checked[(name, "N")] = yes, ~yes
    for (name, value), flag in checked.items():
        answers[f"{name}={value}"] = strings(["", "X"], flag.astype(np.int64))
    return answers


def _sheet_fields(ctx: Context, rng, people, pt: pa.Table, s_pat: np.ndarray, s_def: np.ndarray) -> None:
    answers = _patient_answers(rng, people, pt)
    n_fields = np.array([len(d[3]) for d in SHEET_DEFS])
    def_first = np.concatenate([[0], np.cumsum(n_fields)[:-1]])  # index of each def's first field def
    sheet_row, slot = expand(n_fields[s_def - 1])
    field_def = def_first[s_def[sheet_row] - 1] + slot  # 0-based SheetFieldDef row
    fields = [f for d in SHEET_DEFS for f in d[3]]
    # values: one candidate array per field definition (length people.n or a constant), taken per row
    pieces, offsets, size = [], [], 0
    for ftype, name, value, *_rest in fields:
        rbv = _rest[4]
        if ftype == "InputField":
            arr = answers[name]
        elif ftype == "CheckBox":
            arr = answers[f"{name}={rbv}"]
        else:
            arr = pa.array([value], type=pa.string())
        pieces.append(arr)
        offsets.append(size)
        size += len(arr)
    per_patient = np.array([len(p) == people.n for p in pieces])
    take = np.asarray(offsets)[field_def] + np.where(per_patient[field_def], s_pat[sheet_row], 0)
    values = pa.concat_arrays(pieces).take(pa.array(take))
    attr = {name: np.array([f[i] for f in fields])[field_def] for i, name in
            ((3, "XPos"), (4, "YPos"), (5, "Width"), (6, "Height"), (8, "TabOrder"), (9, "FontSize"), (10, "FontIsBold"))}
    ftypes = np.array([FIELD[f[0]] for f in fields])
    m = len(sheet_row)
    ctx.put("sheetfield", m, {
        "SheetFieldNum": np.arange(1, m + 1),
        "SheetNum": sheet_row + 1,
        "FieldType": ftypes[field_def],
        "FieldName": strings([f[1] for f in fields], field_def),
        "FieldValue": values,
        "FontName": strings(["Arial" if f[9] else "" for f in fields], field_def),
        "RadioButtonValue": strings([f[7] for f in fields], field_def),
        "TextAlign": np.where(ftypes[field_def] == FIELD["StaticText"], ALIGN["Center"], ALIGN["Left"]),
        "SheetFieldDefNum": field_def + 1,
        **attr,
    })


# --- tasks ---------------------------------------------------------------------------------------------

def _tasks(ctx: Context, rng: np.random.Generator, setup, tables) -> None:
    n_lists = len(TASK_LISTS)
    ctx.put("tasklist", n_lists, {
        "TaskListNum": np.arange(1, n_lists + 1),
        "Descript": list(TASK_LISTS),
        "DateTL": ZERO_DAY,
        "DateTimeEntry": ctx.setup_ts,
        "GlobalTaskFilterType": enum_codes("EnumTaskFilterType")["Default"],
        "TaskListStatus": enum_codes("TaskListStatusEnum")["Active"],
    })
    front = 1
    task = tables["task"]
    task = task.set_column(task.column_names.index("TaskListNum"), "TaskListNum",
                           pa.array(np.full(task.num_rows, front, dtype=np.int64)))
    task = _postop_tasks(ctx, rng, setup, tables, task)
    tables["task"] = task
    # subscriptions
    subs = [(int(u), front) for u in setup.frontdesk_user[1:]] + [(setup.admin_user, front)]
    subs += [(setup.billing_user, 2), (setup.admin_user, 2)] + [(int(u), 3) for u in setup.prov_user[1:]]
    subs.sort(key=lambda s: (s[1], s[0]))
    sub_user = np.array([s[0] for s in subs], dtype=np.int64)
    sub_list = np.array([s[1] for s in subs], dtype=np.int64)
    ctx.put("tasksubscription", len(subs), {"TaskSubscriptionNum": np.arange(1, len(subs) + 1), "UserNum": sub_user,
                                            "TaskListNum": sub_list, "TaskNum": 0})

    num, user = _c(task, "TaskNum"), _c(task, "UserNum")
    entry, finished, status = _c(task, "DateTimeEntry"), _c(task, "DateTimeFinished"), _c(task, "TaskStatus")
    done = status == TASK_STATUS["Done"]
    end = np.where(done, finished, ctx.last_ts)
    noted = np.flatnonzero(rng.random(task.num_rows) < TASK_NOTE_RATE)
    note_when = entry[noted] + (rng.uniform(*TASK_NOTE_SPAN, size=len(noted)) * (end[noted] - entry[noted])).astype(np.int64)
    # calls are made in office hours (08:00-17:00): the moment's time of day is squeezed into them,
    # kept after the task's entry and before its finish
    office = note_when // DAY * DAY + 8 * 3600 + (note_when % DAY) * 9 // 24
    note_when = ctx.stamp(np.clip(office, entry[noted] + 1, np.maximum(end[noted] - 1, entry[noted] + 1)))
    pick = rng.integers(0, len(_TASK_NOTES), size=len(noted))
    order = key_order(note_when, num[noted])
    noted, note_when, pick = noted[order], note_when[order], pick[order]
    n_notes = len(noted)
    ctx.put("tasknote", n_notes, {"TaskNoteNum": np.arange(1, n_notes + 1), "TaskNum": num[noted],
                                  "UserNum": user[noted], "DateTimeNote": note_when,
                                  "Note": strings(_TASK_NOTES, pick)})
    _taskhist(ctx, task, noted, note_when, np.flatnonzero(done))
    # unread: tasks still New at as_of, for every subscriber of their list but their author
    t_parts, u_parts = [], []
    for list_num in range(1, n_lists + 1):
        open_rows = np.flatnonzero((status == TASK_STATUS["New"]) & (_c(task, "TaskListNum") == list_num))
        readers = sub_user[sub_list == list_num]
        t_parts.append(np.repeat(open_rows, len(readers)))
        u_parts.append(np.tile(readers, len(open_rows)))
    t_idx, r_user = np.concatenate(t_parts), np.concatenate(u_parts)
    keep = r_user != user[t_idx]
    order = key_order(num[t_idx][keep], r_user[keep])
    t_idx, r_user = t_idx[keep][order], r_user[keep][order]
    ctx.put("taskunread", len(t_idx), {"TaskUnreadNum": np.arange(1, len(t_idx) + 1), "TaskNum": num[t_idx],
                                       "UserNum": r_user})


def _postop_tasks(ctx: Context, rng: np.random.Generator, setup, tables, task: pa.Table) -> pa.Table:
    """``task`` with a post-operative call task in the Clinical list appended for ``POSTOP_CALL_RATE`` of the
    completed extractions and root canals: by the treating provider's user at the end of the procedure's
    day, done the next morning (New if that is after as_of). TaskNums continue after the existing ones."""
    from dental_assets.catalog import raw_table

    from .columns import build_table

    pl = tables["procedurelog"]
    code = _c(pl, "CodeNum")
    postop = np.isin(code, [setup.code_num[c] for c in POSTOP_CODES if c in setup.code_num])
    rows = np.flatnonzero(postop & (_c(pl, "ProcStatus") == PROC["C"]) & (rng.random(pl.num_rows) < POSTOP_CALL_RATE))
    n = len(rows)
    entry = ctx.stamp(_c(pl, "ProcDate")[rows] * DAY + rng.integers(16 * 3600, 18 * 3600, size=n))
    finished = (entry // DAY + 1) * DAY + rng.integers(9 * 3600, 12 * 3600, size=n)
    is_done = finished <= ctx.last_ts
    order = key_order(entry, rows)
    rows, entry, finished, is_done = rows[order], entry[order], finished[order], is_done[order]
    user = setup.prov_user[_c(pl, "ProvNum")[rows]]
    added = build_table(raw_table("task"), n, {
        "TaskNum": int(_c(task, "TaskNum").max(initial=0)) + 1 + np.arange(n), "TaskListNum": 3, "DateTask": ZERO_DAY,
        "KeyNum": _c(pl, "PatNum")[rows], "Descript": "Post-op call: check on the patient after surgery",
        "TaskStatus": np.where(is_done, TASK_STATUS["Done"], TASK_STATUS["New"]),
        "ObjectType": enum_codes("TaskObjectType")["Patient"], "DateTimeEntry": entry, "UserNum": user,
        "DateTimeFinished": np.where(is_done, finished, ZERO_TS), "DateTimeOriginal": entry,
        "SecDateTEdit": np.where(is_done, finished, entry)})
    return pa.concat_tables([task, added])


def _taskhist(ctx: Context, task: pa.Table, noted: np.ndarray, note_when: np.ndarray, done: np.ndarray) -> None:
    """OpenDental's copy of a task before each edit: a note added (IsNoteChange 1) or the task set Done."""
    rows = np.concatenate([noted, done])
    stamp = np.concatenate([note_when, _c(task, "DateTimeFinished")[done]])
    is_note = np.concatenate([np.ones(len(noted), np.int64), np.zeros(len(done), np.int64)])
    order = key_order(stamp, _c(task, "TaskNum")[rows], is_note)
    rows, stamp, is_note = rows[order], stamp[order], is_note[order]
    n = len(rows)
    values = {name: task.column(name).take(pa.array(rows)).combine_chunks()
              for name in task.column_names if name not in ("TaskStatus", "DateTimeFinished", "SecDateTEdit")}
    values.update({
        "TaskHistNum": np.arange(1, n + 1),
        "UserNumHist": _c(task, "UserNum")[rows],
        "DateTStamp": stamp,
        "IsNoteChange": is_note,
        "TaskStatus": TASK_STATUS["New"],
        "DateTimeFinished": ZERO_TS,
        "SecDateTEdit": _c(task, "DateTimeEntry")[rows],
    })
    ctx.put("taskhist", n, values)


# --- procedures, treatment plans, statements, entry log -------------------------------------------------

def _procmultivisit(ctx: Context, rng: np.random.Generator, setup, tables) -> None:
    pl = tables["procedurelog"]
    code = np.asarray(setup.code_proccode, dtype=object)[_c(pl, "CodeNum")]
    status = _c(pl, "ProcStatus")
    live = np.isin(status, [PROC["TP"], PROC["C"]])
    tooth = pc.cast(pc.if_else(pc.utf8_is_digit(pl.column("ToothNum")), pl.column("ToothNum"), "0"),
                    pa.int64()).to_numpy()
    key = (_c(pl, "PatNum") * 64 + tooth) * (int(_c(pl, "AptNum").max(initial=0)) + 1) + _c(pl, "AptNum")
    crown = np.flatnonzero(live & np.isin(code, ["D2740", "D2750"]) & (tooth > 0))
    core = np.flatnonzero(live & (code == "D2950") & (tooth > 0))
    # the k-th crown of a (patient, tooth, appointment) goes with its k-th buildup
    crown, core = crown[key_order(key[crown], crown)], core[key_order(key[core], core)]
    c_key = key[crown] * 16 + rank_within(key[crown])
    b_key = key[core] * 16 + rank_within(key[core])
    pos = np.searchsorted(b_key, c_key)
    match = pos < len(b_key)
    match[match] = b_key[pos[match]] == c_key[match]
    crown, core = crown[match], core[pos[match]]
    # grouped a few minutes after the later of the two was entered
    entered = np.maximum(_c(pl, "SecDateEntry")[crown], _c(pl, "SecDateEntry")[core])
    g_entry = ctx.stamp(entered + rng.integers(*GROUP_DELAY_SECONDS, size=len(crown)))
    order = key_order(g_entry, crown)
    crown, core, g_entry = crown[order], core[order], g_entry[order]
    n_g = len(crown)
    rows = np.stack([crown, core], axis=1).ravel()  # crown first: its row numbers the group
    st = status[rows].reshape(-1, 2)
    in_process = (np.isin(st, [PROC["TP"], PROC["TPi"]]).any(axis=1) & (st == PROC["C"]).any(axis=1))
    completed = np.where(status[rows] == PROC["C"], _c(pl, "ProcDate")[rows] * DAY + 17 * 3600, 0)
    edit = ctx.stamp(np.maximum(np.repeat(g_entry, 2), completed.reshape(-1, 2).max(axis=1).repeat(2)))
    nums = np.arange(1, 2 * n_g + 1)
    ctx.put("procmultivisit", 2 * n_g, {
        "ProcMultiVisitNum": nums,
        "GroupProcMultiVisitNum": np.repeat(nums[::2], 2),
        "ProcNum": _c(pl, "ProcNum")[rows],
        "ProcStatus": status[rows],
        "IsInProcess": np.repeat(in_process, 2).astype(np.int64),
        "SecDateTEntry": np.repeat(g_entry, 2),
        "SecDateTEdit": edit,
        "PatNum": _c(pl, "PatNum")[rows],
    })


def _treatplan_links(ctx: Context, tables) -> None:
    tp, pl = tables["treatplan"], tables["procedurelog"]
    tp_status = enum_codes("TreatPlanStatus")
    plan_status, plan_pat = _c(tp, "TPStatus"), _c(tp, "PatNum")
    active = np.flatnonzero(plan_status == tp_status["Active"])
    plan_of = np.zeros(int(max(plan_pat.max(initial=0), _c(pl, "PatNum").max(initial=0))) + 1, dtype=np.int64)
    plan_of[plan_pat[active]] = _c(tp, "TreatPlanNum")[active]
    procs = np.flatnonzero((_c(pl, "ProcStatus") == PROC["TP"]) & (plan_of[_c(pl, "PatNum")] > 0))
    plan = plan_of[_c(pl, "PatNum")[procs]]
    order = key_order(plan, _c(pl, "ProcNum")[procs])
    procs, plan = procs[order], plan[order]
    ctx.put("treatplanattach", len(procs), {"TreatPlanAttachNum": np.arange(1, len(procs) + 1), "TreatPlanNum": plan,
                                            "ProcNum": _c(pl, "ProcNum")[procs],
                                            "Priority": _c(pl, "Priority")[procs]})
    saved = np.flatnonzero(plan_status == tp_status["Saved"])
    insured = np.zeros(len(plan_of), dtype=bool)
    insured[_c(tables["patplan"], "PatNum")] = True
    ctx.put("treatplanparam", len(saved), {
        "TreatPlanParamNum": np.arange(1, len(saved) + 1), "PatNum": plan_pat[saved],
        "TreatPlanNum": _c(tp, "TreatPlanNum")[saved], "ShowDiscount": 1, "ShowMaxDed": 1, "ShowSubTotals": 1,
        "ShowTotals": 1, "ShowCompleted": TREATPLAN_SHOW_COMPLETED, "ShowFees": 1,
        "ShowIns": insured[plan_pat[saved]].astype(np.int64)})


def _month_index(days: np.ndarray) -> np.ndarray:
    return np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _statementprod(ctx: Context, people, tables) -> None:
    st = tables["statement"]
    guar_of = np.concatenate([[0], people.guarantor])  # PatNum -> guarantor PatNum
    n_month = int(_month_index(np.array([ctx.horizon]))[0]) + 2
    s_from, s_to = _c(st, "DateRangeFrom"), _c(st, "DateRangeTo")
    s_key = _c(st, "PatNum") * n_month + _month_index(s_from)
    by_key = np.argsort(s_key, kind="stable")
    parts = []
    pl = tables["procedurelog"]
    done = np.flatnonzero(_c(pl, "ProcStatus") == PROC["C"])
    parts.append((_c(pl, "PatNum")[done], _c(pl, "ProcDate")[done], _c(pl, "ProcNum")[done], 0))
    adj = tables["adjustment"]
    loose = np.flatnonzero(_c(adj, "ProcNum") == 0)
    parts.append((_c(adj, "PatNum")[loose], _c(adj, "AdjDate")[loose], _c(adj, "AdjNum")[loose], 1))
    ppc = tables["payplancharge"]
    debit = np.flatnonzero(_c(ppc, "ChargeType") == enum_codes("PayPlanChargeType")["Debit"])
    parts.append((_c(ppc, "PatNum")[debit], _c(ppc, "ChargeDate")[debit], _c(ppc, "PayPlanChargeNum")[debit], 2))
    pat = np.concatenate([p[0] for p in parts])
    day = np.concatenate([p[1] for p in parts])
    fkey = np.concatenate([p[2] for p in parts])
    kind = np.concatenate([np.full(len(p[0]), p[3]) for p in parts])
    key = guar_of[pat] * n_month + _month_index(day)
    sorted_keys = s_key[by_key]
    pos = np.searchsorted(sorted_keys, key)
    hit = pos < len(sorted_keys)
    hit[hit] = sorted_keys[pos[hit]] == key[hit]
    stmt = by_key[pos[hit]]
    inside = (day[hit] >= s_from[stmt]) & (day[hit] <= s_to[stmt])
    stmt = stmt[inside]
    fkey, kind = fkey[hit][inside], kind[hit][inside]
    s_num = _c(st, "StatementNum")[stmt]
    order = key_order(s_num, kind, fkey)
    n = len(order)
    ctx.put("statementprod", n, {"StatementProdNum": np.arange(1, n + 1), "StatementNum": s_num[order],
                                 "FKey": fkey[order], "ProdType": kind[order], "LateChargeAdjNum": 0,
                                 "DocNum": _c(st, "DocNum")[stmt][order]})


def _entrylog(ctx: Context, tables) -> None:
    sl = tables["securitylog"]
    rows = np.flatnonzero(_c(sl, "PermType") == enum_codes("EnumPermType")["AppointmentCreate"])
    n = len(rows)
    ctx.put("entrylog", n, {"EntryLogNum": np.arange(1, n + 1), "UserNum": _c(sl, "UserNum")[rows],
                            "FKeyType": enum_codes("EntryLogFKeyType")["Appointment"], "FKey": _c(sl, "FKey")[rows],
                            "LogSource": _c(sl, "LogSource")[rows], "EntryDateTime": _c(sl, "LogDateTime")[rows]})


# --- reference data ------------------------------------------------------------------------------------

def _reference(ctx: Context) -> None:
    n = len(_AUTOCODES)
    ctx.put("autocode", n, {"AutoCodeNum": np.arange(1, n + 1), "Description": list(_AUTOCODES), "IsHidden": 0,
                            "LessIntrusive": 0})
    fixed = enum_codes("EnumCodeGroupFixed")
    n = len(_CODE_GROUPS)
    ctx.put("codegroup", n, {
        "CodeGroupNum": np.arange(1, n + 1), "GroupName": [g[0] for g in _CODE_GROUPS],
        "ProcCodes": [g[1] for g in _CODE_GROUPS], "ItemOrder": np.array([g[2] for g in _CODE_GROUPS]),
        "CodeGroupFixed": np.array([fixed[g[3]] for g in _CODE_GROUPS]), "IsHidden": 0,
        "ShowInAgeLimit": np.array([g[4] for g in _CODE_GROUPS])})
    n = len(_PROGRAMS)
    ctx.put("program", n, {"ProgramNum": np.arange(1, n + 1), "ProgName": [p[0] for p in _PROGRAMS],
                           "ProgDesc": [p[1] for p in _PROGRAMS], "Enabled": np.array([p[2] for p in _PROGRAMS])})
    props = [(k + 1, d, v, m) for k, p in enumerate(_PROGRAMS) for d, v, m in p[3]]
    n = len(props)
    ctx.put("programproperty", n, {
        "ProgramPropertyNum": np.arange(1, n + 1), "ProgramNum": np.array([p[0] for p in props]),
        "PropertyDesc": [p[1] for p in props], "PropertyValue": [p[2] for p in props],
        "IsMasked": np.array([p[3] for p in props])})


# --- procedure group notes ------------------------------------------------------------------------------

def _group_notes(ctx: Context, rng: np.random.Generator, setup, tables) -> None:
    """Group notes as ``ControlChart.menuItemGroupSelected_Click`` makes them: for ``GROUP_NOTE_RATE`` of the
    completed appointments with two or more completed procedures, a procedure of code ~GRP~ (appended to
    ``procedurecode`` as ``ConvertDatabases2`` adds it: "Group Note", "GrpNote", ProcTime "/X/", the last
    procedure category) is appended to ``procedurelog``: status EC, fee 0, AptNum 0, the date, provider and
    clinic of the visit's first procedure; ``procgroupitem`` links each grouped procedure to it (GroupNum =
    its ProcNum). ``setup``'s per-code arrays gain the new code (not billed, no fee) so later stages can
    index them by any CodeNum."""
    pl, codes = tables["procedurelog"], tables["procedurecode"]
    done = np.flatnonzero((_c(pl, "ProcStatus") == PROC["C"]) & (_c(pl, "AptNum") > 0))
    apt = _c(pl, "AptNum")[done]
    order = key_order(apt, done)
    done, apt = done[order], apt[order]
    first = group_firsts(apt)
    size = np.diff(np.append(first, len(apt)))
    chosen = np.flatnonzero((size >= 2) & (rng.random(len(first)) < GROUP_NOTE_RATE))
    lead = done[first[chosen]]  # the visit's first procedure
    day = _c(pl, "ProcDate")[lead]
    order = key_order(day, apt[first[chosen]])
    chosen, lead, day = chosen[order], lead[order], day[order]
    n_groups = len(chosen)
    code_num = int(_c(codes, "CodeNum").max(initial=0)) + 1
    defs = tables["definition"]
    cats = np.flatnonzero(_c(defs, "Category") == enum_codes("DefCat")["ProcCodeCats"])
    last_cat = int(_c(defs, "DefNum")[cats[np.argmax(_c(defs, "ItemOrder")[cats])]]) if len(cats) else 0
    opened = ctx.setup_ts
    append_rows(tables, "procedurecode", 1, {
        "CodeNum": code_num, "ProcCode": "~GRP~", "Descript": "Group Note", "AbbrDesc": "GrpNote", "ProcTime": "/X/",
        "ProcCat": last_cat, "DateTStamp": opened})
    _extend_setup(setup, code_num)
    proc_num = int(_c(pl, "ProcNum").max(initial=0)) + 1 + np.arange(n_groups)
    entered = ctx.stamp(day * DAY + 17 * 3600 + rng.integers(0, 3600, size=n_groups))
    append_rows(tables, "procedurelog", n_groups, {
        "ProcNum": proc_num, "PatNum": _c(pl, "PatNum")[lead], "ProcDate": day, "ProcStatus": PROC["EC"],
        "ProvNum": _c(pl, "ProvNum")[lead], "ClinicNum": _c(pl, "ClinicNum")[lead], "CodeNum": code_num,
        "DateEntryC": day, "DateTStamp": entered, "SecUserNumEntry": setup.prov_user[_c(pl, "ProvNum")[lead]],
        "SecDateEntry": entered, "DateTP": ZERO_DAY, "IcdVersion": GROUP_NOTE_ICD_VERSION, "UnitQty": 1})
    owner, rank = expand(size[chosen])
    items = done[first[chosen][owner] + rank]
    n = len(items)
    ctx.put("procgroupitem", n, {"ProcGroupItemNum": np.arange(1, n + 1), "ProcNum": _c(pl, "ProcNum")[items],
                                 "GroupNum": proc_num[owner]})


def _extend_setup(setup, code_num: int) -> None:
    """Give ``setup``'s CodeNum-indexed arrays a slot for ``code_num`` (not billed, no fee, 0 minutes)."""
    for name, fill in (("code_minutes", 0), ("code_tier", -1), ("code_covcat", 0), ("code_hygiene", False),
                       ("code_base_units", 0)):
        arr = getattr(setup, name)
        if len(arr) <= code_num:
            setattr(setup, name, np.append(arr, np.full(code_num + 1 - len(arr), fill, dtype=arr.dtype)))
    for name, text in (("code_abbr", "GrpNote"), ("code_descript", "Group Note"), ("code_proccode", "~GRP~")):
        values = getattr(setup, name)
        if len(values) <= code_num:
            setattr(setup, name, list(values) + [""] * (code_num - len(values)) + [text])
    if setup.fee.shape[1] <= code_num:
        setup.fee = np.pad(setup.fee, ((0, 0), (0, code_num + 1 - setup.fee.shape[1])))
    setup.code_num["~GRP~"] = code_num
