"""Issue #14's forms, tasks and bookkeeping stage (``dental_synthetic.forms_tasks``): keys, foreign keys
into the practice, OpenDental's codes, dates up to ``as_of``, determinism; and dbt's staging tests on
the generated rows. Every check recomputes from the raw Arrow tables with its own code."""

from __future__ import annotations

import datetime as dt
import importlib

import numpy as np
import pyarrow as pa
import pytest

from dental_assets.catalog import opendental_enums
from dental_synthetic import SyntheticConfig, generate
from dental_synthetic import forms_tasks

AS_OF = dt.date(2026, 6, 30)
LAST_TS = (AS_OF - dt.date(1970, 1, 1)).days * 86_400 + 19 * 3600


@pytest.fixture(scope="module")
def practice():
    return generate(SyntheticConfig(as_of=AS_OF, patients=800, seed=5))


def enum(name: str) -> dict[str, int]:
    return {v["name"]: int(v["value"]) for v in opendental_enums()[name]["values"]}


def col(practice, table: str, name: str) -> np.ndarray:
    arr = practice.tables[table].column(name)
    if pa.types.is_date32(arr.type):
        return arr.cast(pa.int32()).to_numpy().astype(np.int64)
    if pa.types.is_timestamp(arr.type):
        return arr.cast(pa.int64()).to_numpy()
    return arr.to_numpy(zero_copy_only=False)


def keys_are_1_to_n(practice, table: str, key: str) -> None:
    assert col(practice, table, key).tolist() == list(range(1, practice.tables[table].num_rows + 1)), table


@pytest.mark.parametrize("table,key", [
    ("sheetdef", "SheetDefNum"), ("sheetfielddef", "SheetFieldDefNum"), ("sheet", "SheetNum"),
    ("sheetfield", "SheetFieldNum"), ("tasklist", "TaskListNum"), ("taskhist", "TaskHistNum"),
    ("tasknote", "TaskNoteNum"), ("tasksubscription", "TaskSubscriptionNum"), ("taskunread", "TaskUnreadNum"),
    ("procmultivisit", "ProcMultiVisitNum"), ("treatplanattach", "TreatPlanAttachNum"),
    ("treatplanparam", "TreatPlanParamNum"), ("statementprod", "StatementProdNum"), ("entrylog", "EntryLogNum"),
    ("autocode", "AutoCodeNum"), ("codegroup", "CodeGroupNum"), ("program", "ProgramNum"),
    ("programproperty", "ProgramPropertyNum"),
])
def test_keys_and_rows(practice, table, key):
    assert practice.tables[table].num_rows > 0, table
    keys_are_1_to_n(practice, table, key)


def test_codes_are_opendentals(practice):
    checks = [("sheet", "SheetType", "SheetTypeEnum"), ("sheetdef", "SheetType", "SheetTypeEnum"),
              ("sheetfield", "FieldType", "SheetFieldType"), ("sheetfielddef", "FieldType", "SheetFieldType"),
              ("sheetfield", "TextAlign", "HorizontalAlignment"), ("taskhist", "TaskStatus", "TaskStatusEnum"),
              ("taskhist", "ObjectType", "TaskObjectType"), ("tasklist", "TaskListStatus", "TaskListStatusEnum"),
              ("tasklist", "GlobalTaskFilterType", "EnumTaskFilterType"), ("procmultivisit", "ProcStatus", "ProcStat"),
              ("statementprod", "ProdType", "ProductionType"), ("entrylog", "FKeyType", "EntryLogFKeyType"),
              ("entrylog", "LogSource", "LogSources"), ("codegroup", "CodeGroupFixed", "EnumCodeGroupFixed")]
    for table, column, name in checks:
        assert set(col(practice, table, column).tolist()) <= set(enum(name).values()), (table, column)
    types = enum("SheetTypeEnum")
    assert set(col(practice, "sheet", "SheetType").tolist()) == {types["PatientForm"], types["MedicalHistory"]}


def test_sheets_belong_to_patients_with_visits_and_copy_their_definitions(practice):
    pat = col(practice, "sheet", "PatNum")
    assert pat.min() >= 1 and pat.max() <= practice.tables["patient"].num_rows
    when = col(practice, "sheet", "DateTimeSheet")
    assert when.max() <= LAST_TS
    # every sheet is filled in on the day of one of its patient's completed appointments
    ap_pat, ap_when = col(practice, "appointment", "PatNum"), col(practice, "appointment", "AptDateTime")
    done = col(practice, "appointment", "AptStatus") == enum("ApptStatus")["Complete"]
    visit_days = set(zip(ap_pat[done].tolist(), (ap_when[done] // 86_400).tolist()))
    assert all((p, d) in visit_days for p, d in zip(pat.tolist(), (when // 86_400).tolist()))
    # registration forms only at new-patient visits, at most one per patient
    reg = col(practice, "sheet", "SheetDefNum") == 1
    assert len(set(pat[reg].tolist())) == int(reg.sum())
    # medical histories: no two of a patient less than ~a year apart unless the first came with a registration
    hist = np.flatnonzero(~reg)
    order = np.lexsort((when[hist], pat[hist]))
    p, w = pat[hist][order], when[hist][order]
    same = p[1:] == p[:-1]
    gaps = (w[1:] - w[:-1])[same] / 86_400
    assert len(gaps) and gaps.min() > 0
    # sheet fields: each sheet has exactly its definition's fields, in order, with the definition's type
    sheet_def = col(practice, "sheet", "SheetDefNum")
    fd_def = col(practice, "sheetfielddef", "SheetDefNum")
    per_def = np.bincount(fd_def, minlength=3)
    counts = np.bincount(col(practice, "sheetfield", "SheetNum"), minlength=len(sheet_def) + 1)[1:]
    assert (counts == per_def[sheet_def]).all()
    assert per_def.max() <= 15
    f_def = col(practice, "sheetfield", "SheetFieldDefNum")
    assert (fd_def[f_def - 1] == sheet_def[col(practice, "sheetfield", "SheetNum") - 1]).all()
    for name in ("FieldType", "FieldName", "XPos", "YPos", "RadioButtonValue"):
        assert (col(practice, "sheetfielddef", name)[f_def - 1] == col(practice, "sheetfield", name)).all(), name
    # the names on a form are the patient's; the signature box is empty; Y/N pairs have exactly one X
    sf_pat = pat[col(practice, "sheetfield", "SheetNum") - 1]
    name = col(practice, "sheetfield", "FieldName")
    value = col(practice, "sheetfield", "FieldValue")
    lname = col(practice, "patient", "LName")
    is_l = name == "LName"
    assert (value[is_l] == lname[sf_pat[is_l] - 1]).all()
    assert (value[col(practice, "sheetfield", "FieldType") == enum("SheetFieldType")["SigBox"]] == "").all()
    is_pen = name == "allergy:Penicillin"
    marks = (value[is_pen] == "X").reshape(-1, 2).sum(axis=1)
    assert (marks == 1).all()


def test_tasks_lists_notes_history_unread(practice):
    lists = set(col(practice, "tasklist", "TaskListNum").tolist())
    task_num = col(practice, "task", "TaskNum")
    assert set(col(practice, "task", "TaskListNum").tolist()) <= lists
    entry = dict(zip(task_num.tolist(), col(practice, "task", "DateTimeEntry").tolist()))
    user = dict(zip(task_num.tolist(), col(practice, "task", "UserNum").tolist()))
    for t, u, w in zip(col(practice, "tasknote", "TaskNum").tolist(), col(practice, "tasknote", "UserNum").tolist(),
                       col(practice, "tasknote", "DateTimeNote").tolist()):
        assert w > entry[t] and w <= LAST_TS and u == user[t]
    hist_task = col(practice, "taskhist", "TaskNum")
    assert set(hist_task.tolist()) <= set(task_num.tolist())
    # one history row per note and one per finished task
    done = col(practice, "task", "TaskStatus") == enum("TaskStatusEnum")["Done"]
    assert len(hist_task) == practice.tables["tasknote"].num_rows + int(done.sum())
    assert (col(practice, "taskhist", "DateTStamp") >= np.array([entry[t] for t in hist_task.tolist()])).all()
    users = set(col(practice, "userod", "UserNum").tolist())
    assert set(col(practice, "tasksubscription", "UserNum").tolist()) <= users
    assert set(col(practice, "tasksubscription", "TaskListNum").tolist()) == lists
    open_tasks = set(task_num[col(practice, "task", "TaskStatus") == enum("TaskStatusEnum")["New"]].tolist())
    unread = col(practice, "taskunread", "TaskNum")
    assert set(unread.tolist()) <= open_tasks
    pairs = list(zip(unread.tolist(), col(practice, "taskunread", "UserNum").tolist()))
    assert len(set(pairs)) == len(pairs) and all(user[t] != u for t, u in pairs)


def test_lists_hold_their_tasks(practice):
    """Front desk: the broken-appointment calls; Clinical: post-op calls after completed surgery, by the
    treating provider's user, on the procedure's day; appended after the existing tasks."""
    lst = col(practice, "task", "TaskListNum")
    descript = col(practice, "task", "Descript")
    assert (descript[lst == 1] == "Call patient to reschedule broken appointment").all()
    clinical = np.flatnonzero(lst == 3)
    assert len(clinical) > 0 and clinical.min() > np.flatnonzero(lst == 1).max()
    pl_pat, pl_day = col(practice, "procedurelog", "PatNum"), col(practice, "procedurelog", "ProcDate")
    codes = dict(zip(col(practice, "procedurecode", "CodeNum").tolist(), col(practice, "procedurecode", "ProcCode").tolist()))
    surgery = (col(practice, "procedurelog", "ProcStatus") == 2) & np.isin(
        [codes[c] for c in col(practice, "procedurelog", "CodeNum").tolist()], list(forms_tasks.POSTOP_CODES))
    visits = set(zip(pl_pat[surgery].tolist(), pl_day[surgery].tolist()))
    entry = col(practice, "task", "DateTimeEntry")
    for t in clinical.tolist():
        assert (int(col(practice, "task", "KeyNum")[t]), int(entry[t] // 86_400)) in visits
    done = col(practice, "task", "TaskStatus")[clinical] == enum("TaskStatusEnum")["Done"]
    assert (col(practice, "task", "DateTimeFinished")[clinical][done] > entry[clinical][done]).all()
    assert (col(practice, "task", "DateTimeFinished")[clinical][done] <= LAST_TS).all()


def test_procmultivisit_groups(practice):
    proc = col(practice, "procmultivisit", "ProcNum")
    status = col(practice, "procedurelog", "ProcStatus")
    pat = col(practice, "procedurelog", "PatNum")
    tooth = col(practice, "procedurelog", "ToothNum")
    assert (col(practice, "procmultivisit", "ProcStatus") == status[proc - 1]).all()
    assert (col(practice, "procmultivisit", "PatNum") == pat[proc - 1]).all()
    group = col(practice, "procmultivisit", "GroupProcMultiVisitNum")
    nums = col(practice, "procmultivisit", "ProcMultiVisitNum")
    assert set(group.tolist()) <= set(nums.tolist())
    assert len(set(proc.tolist())) == len(proc)
    in_process = col(practice, "procmultivisit", "IsInProcess")
    for g in np.unique(group):
        rows = np.flatnonzero(group == g)
        assert len(rows) >= 2 and nums[rows].min() == g
        assert len(set(pat[proc[rows] - 1].tolist())) == 1 and len(set(tooth[proc[rows] - 1].tolist())) == 1
        st = set(status[proc[rows] - 1].tolist())
        assert len(set(in_process[rows].tolist())) == 1
        assert in_process[rows][0] == int(bool(st & {1, 8}) and 2 in st)
    assert col(practice, "procmultivisit", "SecDateTEntry").max() <= LAST_TS


def test_treatplan_links(practice):
    plan_pat = dict(zip(col(practice, "treatplan", "TreatPlanNum").tolist(), col(practice, "treatplan", "PatNum").tolist()))
    plan_status = dict(zip(col(practice, "treatplan", "TreatPlanNum").tolist(),
                           col(practice, "treatplan", "TPStatus").tolist()))
    tps = enum("TreatPlanStatus")
    proc = col(practice, "treatplanattach", "ProcNum")
    plan = col(practice, "treatplanattach", "TreatPlanNum")
    pat = col(practice, "procedurelog", "PatNum")
    assert all(plan_pat[p] == pat[n - 1] for p, n in zip(plan.tolist(), proc.tolist()))
    assert all(plan_status[p] == tps["Active"] for p in plan.tolist())
    assert (col(practice, "treatplanattach", "Priority") == col(practice, "procedurelog", "Priority")[proc - 1]).all()
    tp_procs = col(practice, "procedurelog", "ProcStatus") == enum("ProcStat")["TP"]
    assert int(tp_procs.sum()) == len(proc)  # every TP procedure is on its patient's active plan
    param_plan = col(practice, "treatplanparam", "TreatPlanNum")
    assert sorted(param_plan.tolist()) == sorted(p for p, s in plan_status.items() if s == tps["Saved"])
    assert all(plan_pat[p] == q for p, q in zip(param_plan.tolist(), col(practice, "treatplanparam", "PatNum").tolist()))


def test_statementprod_lists_the_familys_production_in_range(practice):
    st_num = col(practice, "statement", "StatementNum")
    guar = dict(zip(st_num.tolist(), col(practice, "statement", "PatNum").tolist()))
    lo = dict(zip(st_num.tolist(), col(practice, "statement", "DateRangeFrom").tolist()))
    hi = dict(zip(st_num.tolist(), col(practice, "statement", "DateRangeTo").tolist()))
    family = col(practice, "patient", "Guarantor")
    kinds = enum("ProductionType")
    sources = {kinds["Procedure"]: ("procedurelog", "ProcNum", "ProcDate"),
               kinds["Adjustment"]: ("adjustment", "AdjNum", "AdjDate"),
               kinds["PayPlanCharge"]: ("payplancharge", "PayPlanChargeNum", "ChargeDate")}
    lookup = {k: (dict(zip(col(practice, t, key).tolist(), col(practice, t, "PatNum").tolist())),
                  dict(zip(col(practice, t, key).tolist(), col(practice, t, day).tolist())))
              for k, (t, key, day) in sources.items()}
    seen = set()
    for s, f, k in zip(col(practice, "statementprod", "StatementNum").tolist(), col(practice, "statementprod", "FKey").tolist(),
                       col(practice, "statementprod", "ProdType").tolist()):
        pats, days = lookup[k]
        assert family[pats[f] - 1] == guar[s] and lo[s] <= days[f] <= hi[s]
        seen.add(k)
    assert seen == set(kinds.values())
    # every statement lists exactly its family's production in its range (recomputed row by row)
    by_family_month = {}
    adj_proc = dict(zip(col(practice, "adjustment", "AdjNum").tolist(), col(practice, "adjustment", "ProcNum").tolist()))
    ppc_type = dict(zip(col(practice, "payplancharge", "PayPlanChargeNum").tolist(),
                        col(practice, "payplancharge", "ChargeType").tolist()))
    proc_status = dict(zip(col(practice, "procedurelog", "ProcNum").tolist(),
                           col(practice, "procedurelog", "ProcStatus").tolist()))
    listable = {kinds["Procedure"]: lambda f: proc_status[f] == 2, kinds["Adjustment"]: lambda f: adj_proc[f] == 0,
                kinds["PayPlanCharge"]: lambda f: ppc_type[f] == 0}
    for k, (pats, days) in lookup.items():
        for f, p in pats.items():
            if listable[k](f):
                by_family_month.setdefault(int(family[p - 1]), []).append((days[f], k, f))
    expected = {}
    for s in st_num.tolist():
        expected[s] = sorted((k, f) for d, k, f in by_family_month.get(guar[s], []) if lo[s] <= d <= hi[s])
    listed = {}
    for s, f, k in zip(col(practice, "statementprod", "StatementNum").tolist(), col(practice, "statementprod", "FKey").tolist(),
                       col(practice, "statementprod", "ProdType").tolist()):
        listed.setdefault(s, []).append((k, f))
    assert {s: sorted(v) for s, v in listed.items()} == {s: v for s, v in expected.items() if v}
    # the edges are in the data, so the equality above covers them: items on the last day of a statement's
    # range (listed) and items the day after it (not listed on that statement)
    last_day = [(s, hi[s]) for s in st_num.tolist()]
    on_edge = sum(1 for s, d in last_day for dd, k, f in by_family_month.get(guar[s], []) if dd == d)
    after_edge = [(s, k, f) for s, d in last_day for dd, k, f in by_family_month.get(guar[s], []) if dd == d + 1]
    assert on_edge > 0 and after_edge
    assert not any((k, f) in listed.get(s, []) for s, k, f in after_edge)


def test_entrylog_mirrors_appointment_creation(practice):
    created = col(practice, "securitylog", "PermType") == enum("EnumPermType")["AppointmentCreate"]
    assert sorted(col(practice, "entrylog", "FKey").tolist()) == sorted(col(practice, "securitylog", "FKey")[created].tolist())
    assert set(col(practice, "entrylog", "FKey").tolist()) <= set(col(practice, "appointment", "AptNum").tolist())


def test_reference_rows(practice):
    fixed = col(practice, "codegroup", "CodeGroupFixed")
    assert len(set(fixed[fixed > 0].tolist())) == int((fixed > 0).sum())  # one group per fixed kind
    assert "D1110" in col(practice, "codegroup", "ProcCodes")[fixed == enum("EnumCodeGroupFixed")["Prophy"]][0]
    assert col(practice, "program", "Enabled").sum() == 1
    values = col(practice, "programproperty", "PropertyValue").tolist()
    assert all(v in ("", "0", "4") for v in values)  # defaults only, never a credential
    assert set(col(practice, "programproperty", "ProgramNum").tolist()) <= set(col(practice, "program", "ProgramNum").tolist())


def test_group_notes(practice):
    """procgroupitem: GroupNum is a ~GRP~ procedure (EC, fee 0, no appointment) of the same patient and day
    as each grouped procedure (completed, on one appointment); two or more per group; no money moved."""
    grp = int(col(practice, "procedurecode", "CodeNum")[col(practice, "procedurecode", "ProcCode") == "~GRP~"][0])
    num = col(practice, "procedurelog", "ProcNum")
    assert (num == np.arange(1, len(num) + 1)).all()
    code, status = col(practice, "procedurelog", "CodeNum"), col(practice, "procedurelog", "ProcStatus")
    fee, apt = col(practice, "procedurelog", "ProcFee"), col(practice, "procedurelog", "AptNum")
    pat, day = col(practice, "procedurelog", "PatNum"), col(practice, "procedurelog", "ProcDate")
    is_grp = code == grp
    assert is_grp.sum() > 0 and (status[is_grp] == enum("ProcStat")["EC"]).all()
    assert (fee[is_grp] == 0).all() and (apt[is_grp] == 0).all()
    assert np.flatnonzero(is_grp).min() > np.flatnonzero(~is_grp).max()  # appended after every other row
    group, item = col(practice, "procgroupitem", "GroupNum"), col(practice, "procgroupitem", "ProcNum")
    assert is_grp[group - 1].all() and (status[item - 1] == enum("ProcStat")["C"]).all()
    assert (pat[item - 1] == pat[group - 1]).all() and (day[item - 1] == day[group - 1]).all()
    assert (np.bincount(group)[np.unique(group)] >= 2).all()
    assert set(np.unique(group).tolist()) == set(num[is_grp].tolist())
    for g in np.unique(group)[:50]:
        assert len(set(apt[item[group == g] - 1].tolist())) == 1


def test_deterministic_and_other_tables_unchanged(practice):
    again = generate(SyntheticConfig(as_of=AS_OF, patients=800, seed=5))
    for name in forms_tasks.TABLES + ("task",):
        assert again.tables[name].equals(practice.tables[name]), name
    # the stage draws from its own stream: without it, every other table is the same (task: but its list)
    gen = importlib.import_module("dental_synthetic.generate")

    saved = gen.LATER_STAGES
    gen.LATER_STAGES = tuple(s for s in saved if s is not forms_tasks)
    try:
        without = generate(SyntheticConfig(as_of=AS_OF, patients=800, seed=5))
    finally:
        gen.LATER_STAGES = saved
    for name, table in without.tables.items():
        if name in forms_tasks.TABLES:
            continue
        mine = practice.tables[name]
        if name == "task":
            table, mine = table.drop(["TaskListNum"]), mine.drop(["TaskListNum"])
        if name in ("procedurelog", "procedurecode", "task"):  # group notes, post-op calls: appended
            mine = mine.slice(0, table.num_rows)
        assert table.equals(mine), name
    # the money is unchanged: the daily ledger and the aging are the same
    for name in ("daily", "aging"):
        assert without.ledger[name].equals(practice.ledger[name]), name


@pytest.fixture(scope="module")
def small_built(pg_module_url, tmp_path_factory):
    """A 300-patient practice in a real PostgreSQL raw schema, with this stage's staging models and
    int_patient_forms built and tested by dbt."""
    import dental_synthetic
    from dbt_runner import run_dbt
    from dental_assets.warehouse import PgParams, mark_demo_target

    params = PgParams.from_url(pg_module_url)
    mark_demo_target(params)
    small = generate(SyntheticConfig(as_of=AS_OF, patients=300, seed=9))
    dental_synthetic.write_postgres_raw(small, params)
    target = tmp_path_factory.mktemp("dbt_target")
    models = [f"stg_opendental__{name}" for name in forms_tasks.TABLES]
    out = run_dbt(params, target, "build", "--select", *models, "+int_patient_forms", "--indirect-selection", "cautious")
    return params, small, target, out


def test_staging_models_pass_their_tests_on_generated_rows(small_built):
    """run_dbt fails the test on any dbt error or failing test; the staging views hold every raw row."""
    from dbt_runner import query_rows

    params, small, _, out = small_built
    assert "ERROR=0" in out and "PASS=" in out
    for name in forms_tasks.TABLES:
        [(count,)] = query_rows(params, f"select count(*) from staging.stg_opendental__{name}")
        assert count == small.tables[name].num_rows, name


def test_int_patient_forms_equals_the_generated_sheets(small_built):
    from dbt_runner import query_rows

    params, small, _, _ = small_built
    expected = {}
    for pat, kind, when in zip(col(small, "sheet", "PatNum").tolist(), col(small, "sheet", "SheetType").tolist(),
                               col(small, "sheet", "DateTimeSheet").tolist()):
        row = expected.setdefault(pat, [0, 0, None])
        if kind == 9:
            row[0] += 1
        else:
            row[1] += 1
            row[2] = max(row[2] or when, when)
    got = {p: [a, b, None if t is None else int(t.replace(tzinfo=dt.timezone.utc).timestamp())]
           for p, a, b, t in query_rows(params, "select patient_id, patient_form_count, medical_history_count, "
                                                 "latest_medical_history_at from intermediate.int_patient_forms")}
    assert got == expected


def test_int_patient_forms_hand_made_edges(small_built):
    """Hand-written rows: a deleted medical history later than the patient's latest, an Rx sheet, a
    medical history of no patient; only a valid later medical history moves the date."""
    from dbt_runner import query_rows, run_dbt

    params, small, target, _ = small_built
    pat = int(col(small, "sheet", "PatNum")[col(small, "sheet", "SheetType") == 11][0])
    [(before_at, before_n)] = query_rows(params, "select latest_medical_history_at, medical_history_count "
                                                 f"from intermediate.int_patient_forms where patient_id = {pat}")
    top = small.tables["sheet"].num_rows
    insert = ('insert into raw.sheet ("SheetNum", "SheetType", "PatNum", "DateTimeSheet", "IsDeleted", "FontName", '
              '"InternalNote", "Description", "DocNum", "ClinicNum", "DateTSheetEdited") values ')
    rows = [(top + 1, 11, pat, "2026-06-29 10:00:00", 1),   # deleted: ignored
            (top + 2, 5, pat, "2026-06-29 11:00:00", 0),    # an Rx sheet: ignored
            (top + 3, 11, 999_999, "2026-06-29 12:00:00", 0)]  # no such patient: ignored
    conn = params.connect()
    try:
        with conn.cursor() as cur:
            for num, kind, who, when, deleted in rows:
                cur.execute(insert + f"({num}, {kind}, {who}, '{when}', {deleted}, 'Arial', '', 'x', 0, 1, '{when}')")
        conn.commit()
        run_dbt(params, target, "run", "--select", "int_patient_forms")
        [(at, n)] = query_rows(params, "select latest_medical_history_at, medical_history_count "
                                       f"from intermediate.int_patient_forms where patient_id = {pat}")
        assert (at, n) == (before_at, before_n)
        assert query_rows(params, "select count(*) from intermediate.int_patient_forms where patient_id = 999999") == [(0,)]
        with conn.cursor() as cur:  # a valid medical history on the last day moves the date, to the second
            cur.execute(insert + f"({top + 4}, 11, {pat}, '2026-06-30 18:59:59', 0, 'Arial', '', 'x', 0, 1, "
                        "'2026-06-30 18:59:59')")
        conn.commit()
        run_dbt(params, target, "run", "--select", "int_patient_forms")
        [(at, n, day)] = query_rows(params, "select latest_medical_history_at, medical_history_count, "
                                            "latest_medical_history_date from intermediate.int_patient_forms "
                                            f"where patient_id = {pat}")
        assert (str(at), n, str(day)) == ("2026-06-30 18:59:59", before_n + 1, "2026-06-30")
    finally:
        conn.close()
