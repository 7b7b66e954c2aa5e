"""Communications, documents and referral attachments.

- commlog: automated appointment reminders two days ahead, calls after broken appointments, recall
  outreach, calls to carriers about denied claims, balance calls to families with balances over 90 days.
- document: radiograph images of completed imaging procedures, registration forms at new-patient
  visits, insurance card scans.
- refattach: where new patients came from (RefFrom) and treatment referred out to specialists (RefTo).

Notes are fixed phrases: no patient data is ever written into free text.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .columns import strings
from .context import Context
from .people import People
from .practice import RADIOLOGY_CODES, Setup, enum_codes
from .schedule import APT, PROC, SPECIALTIES, Clinical
from .util import DAY, ZERO_DAY, key_order, rank_within, ts

NOTES = (
    "Appointment reminder sent",
    "Called about missed appointment",
    "Recall reminder",
    "Called carrier about claim",
    "Discussed account balance",
)
NOTE_REMINDER, NOTE_BROKEN, NOTE_RECALL, NOTE_CARRIER, NOTE_BALANCE = range(len(NOTES))  # commlog.Note index
# commlog
REMINDER_DAYS_AHEAD = 2  # days before the appointment its reminder is sent ...
REMINDER_HOUR = 10  # ... during this hour of the day
REMINDER_RATE = 0.7  # share of appointments (not Planned) that get a reminder
BROKEN_CALL_RATE = 0.6  # share of broken/unscheduled appointments followed by a call ...
BROKEN_CALL_DAYS = (0, 2)  # ... this many days after the appointment, [low, high) ...
BROKEN_CALL_MINUTES = (1, 6)  # ... lasting this many minutes, [low, high)
RECALL_CALL_MINUTES = 2  # minutes of a recall phone call (postcards: none)
CARRIER_CALL_DAYS = (1, 11)  # days after an underpaid claim was received that the carrier is called, [low, high)
CARRIER_CALL_MINUTES = (5, 20)  # minutes of that call, [low, high)
BALANCE_CALL_DAYS = (0, 45)  # days before as_of a family with a balance over 90 days is called, [low, high)
BALANCE_CALL_MINUTES = (2, 10)  # minutes of that call, [low, high)
# document
IMAGE_HOUR = 9  # radiographs are filed between this hour ...
IMAGE_SPAN_HOURS = 8  # ... and this many hours later, uniform
FORM_LEAD = 600  # seconds before a new patient's appointment the registration form is scanned
CARD_LEAD = 300  # seconds before it the insurance card is scanned
# refattach
REFERRED_FROM_DAYS = 2 * 365  # patients entered since this many days before ``start`` (not Archived) ...
REFERRED_FROM_RATE = 0.4  # ... this share of them came from a referral source
REFERRAL_OUTCOMES = {"Scheduled": 0.3, "Consulted": 0.2, "InTreatment": 0.1, "Complete": 0.3,
                     "Declined": 0.1}  # share of referrals out with each ReferralToStatus
REFERRAL_COMPLETE_DAYS = (20, 91)  # days from referral to the specialist's completion, [low, high)


def _days(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).cast(pa.int32()).to_numpy().astype(np.int64)


def build_contacts(ctx: Context, setup: Setup, people: People, clinical: Clinical, tables: dict[str, pa.Table],
                   aging: pa.Table) -> None:
    """Writes commlog (the five kinds of contact, in time order), document and refattach from the finished
    schedule (``clinical``), the recall and claim tables and the aging (one row per guarantor, dollars)."""
    parts = [
        _appointment_reminders(ctx, setup, people, clinical),
        _broken_appointment_calls(ctx, setup, clinical),
        _recall_outreach(setup, people, tables["recall"]),
        _carrier_calls(ctx, setup, tables["claim"]),
        _balance_calls(ctx, setup, aging),
    ]
    _put_commlog(ctx, parts)
    _documents(ctx, setup, people, clinical)
    _refattach(ctx, setup, people, clinical)


def _commlog_part(pat, when, ctype, cmode, note, user, csource=0, minutes=0) -> dict[str, np.ndarray]:
    """Commlog columns of one kind of contact, each broadcast to one int64 value per row: PatNum, time
    (seconds since epoch), CommType, Mode_, NOTES index, UserNum, CommSource and minutes (0: no end)."""
    n = len(pat)
    full = lambda v: np.broadcast_to(np.asarray(v, dtype=np.int64), (n,)).copy()  # noqa: E731
    return {"pat": full(pat), "when": full(when), "type": full(ctype), "mode": full(cmode),
            "note": full(note), "user": full(user), "source": full(csource), "minutes": full(minutes)}


def _appointment_reminders(ctx: Context, setup: Setup, people: People, clinical: Clinical) -> dict[str, np.ndarray]:
    """Appointment reminders REMINDER_DAYS_AHEAD, sent automatically by text or e-mail; OpenDental's AutoComm
    logs a commlog only for the texts: an e-mailed reminder is an e-mail message, not a commlog
    (AutoCommObj.InsertCommlog returns for CommItemMode.Email, "Emails already show in the Chart")."""
    rng = ctx.rng
    ap = clinical.apts
    n_apt = len(ap.pat)
    pref = np.asarray(people.patient_values["PreferContactMethod"])
    remind_day = ap.date - REMINDER_DAYS_AHEAD
    remind_ts = ts(remind_day, REMINDER_HOUR * 3600 + rng.integers(0, 3600, size=n_apt))
    reminded = ((ap.status != APT["Planned"]) & (remind_day <= ctx.as_of) & (remind_day >= ctx.start)
                & (remind_ts > ap.created) & (rng.random(n_apt) < REMINDER_RATE))
    r = np.flatnonzero(reminded)
    r = r[pref[ap.pat[r] - 1] == enum_codes("ContactMethod")["WirelessPh"]]
    return _commlog_part(ap.pat[r], remind_ts[r], setup.defs[("CommLogTypes", "appt")],
                         enum_codes("CommItemMode")["Text"], NOTE_REMINDER, 0,
                         enum_codes("CommItemSource")["ApptReminder"])


def _broken_appointment_calls(ctx: Context, setup: Setup, clinical: Clinical) -> dict[str, np.ndarray]:
    """Front-desk phone calls after broken (or unscheduled-list) appointments, BROKEN_CALL_RATE of them."""
    rng = ctx.rng
    ap = clinical.apts
    b = np.flatnonzero(np.isin(ap.status, [APT["Broken"], APT["UnschedList"]])
                       & (rng.random(len(ap.pat)) < BROKEN_CALL_RATE))
    call_day = np.minimum(ap.date[b] + rng.integers(*BROKEN_CALL_DAYS, size=len(b)), ctx.as_of)
    return _commlog_part(ap.pat[b], ctx.clock(call_day), setup.defs[("CommLogTypes", "appt")],
                         enum_codes("CommItemMode")["Phone"], NOTE_BROKEN, setup.frontdesk_user[ap.clinic[b]],
                         minutes=rng.integers(*BROKEN_CALL_MINUTES, size=len(b)))


def _recall_outreach(setup: Setup, people: People, recall: pa.Table) -> dict[str, np.ndarray]:
    """Outreach for overdue recalls (recall.RecallStatus set): a postcard (Mail) or a phone call, at the
    recall's DateTStamp."""
    d = setup.defs
    mode = enum_codes("CommItemMode")
    rs = recall.column("RecallStatus").to_numpy()
    rc = np.flatnonzero(rs > 0)
    rc_pat = recall.column("PatNum").to_numpy()[rc]
    rc_when = recall.column("DateTStamp").cast(pa.int64()).to_numpy()[rc]
    postcard = rs[rc] == d[("RecallUnschedStatus", "postcard")]
    return _commlog_part(rc_pat, rc_when, d[("CommLogTypes", "recall")],
                         np.where(postcard, mode["Mail"], mode["Phone"]), NOTE_RECALL,
                         setup.frontdesk_user[people.clinic[rc_pat - 1]],
                         minutes=np.where(postcard, 0, RECALL_CALL_MINUTES))


def _carrier_calls(ctx: Context, setup: Setup, claim: pa.Table) -> dict[str, np.ndarray]:
    """Billing's calls to carriers about denied or reduced claims (claim.ReasonUnderPaid set), some days
    after claim.DateReceived."""
    rng = ctx.rng
    under = np.flatnonzero(claim.column("ReasonUnderPaid").to_numpy(zero_copy_only=False) != "")
    cl_day = np.minimum(_days(claim, "DateReceived")[under] + rng.integers(*CARRIER_CALL_DAYS, size=len(under)),
                        ctx.as_of)
    return _commlog_part(claim.column("PatNum").to_numpy()[under], ctx.clock(cl_day),
                         setup.defs[("CommLogTypes", "insurance")], enum_codes("CommItemMode")["Phone"],
                         NOTE_CARRIER, setup.billing_user,
                         minutes=rng.integers(*CARRIER_CALL_MINUTES, size=len(under)))


def _balance_calls(ctx: Context, setup: Setup, aging: pa.Table) -> dict[str, np.ndarray]:
    """Billing's calls to the guarantors of families with a balance over 90 days (aging.BalOver90 > 0)."""
    rng = ctx.rng
    over = np.flatnonzero(aging.column("BalOver90").to_numpy() > 0)
    g = aging.column("Guarantor").to_numpy()[over]
    fin_day = ctx.as_of - rng.integers(*BALANCE_CALL_DAYS, size=len(g))
    return _commlog_part(g, ctx.clock(fin_day), setup.defs[("CommLogTypes", "financial")],
                         enum_codes("CommItemMode")["Phone"], NOTE_BALANCE, setup.billing_user,
                         minutes=rng.integers(*BALANCE_CALL_MINUTES, size=len(g)))


def _put_commlog(ctx: Context, parts: list[dict[str, np.ndarray]]) -> None:
    """Writes commlog: the contacts of every part, numbered in time order (then PatNum)."""
    c = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    c["when"] = ctx.stamp(c["when"])
    order = key_order(c["when"], c["pat"])
    c = {k: v[order] for k, v in c.items()}
    n = len(order)
    sent_received = enum_codes("CommSentOrReceived")
    ctx.put("commlog", n, {
        "CommlogNum": np.arange(1, n + 1),
        "PatNum": c["pat"],
        "CommDateTime": c["when"],
        "CommType": c["type"],
        "Note": strings(NOTES, c["note"]),
        "Mode_": c["mode"],
        "SentOrReceived": sent_received["Sent"],
        "UserNum": c["user"],
        "DateTStamp": c["when"],
        "DateTimeEnd": np.where(c["minutes"] > 0, ctx.stamp(c["when"] + c["minutes"] * 60), ZERO_DAY * DAY),
        "CommSource": c["source"],
        "DateTEntry": c["when"],
    })

def _documents(ctx: Context, setup: Setup, people: People, clinical: Clinical) -> None:
    """Writes document: a radiograph per completed imaging procedure (practice.RADIOLOGY_CODES), a registration form
    per completed new-patient visit and an insurance card scan when the patient is insured."""
    rng = ctx.rng
    pr = clinical.procs
    ap = clinical.apts
    d = setup.defs
    image = enum_codes("ImageType")
    imaging = np.isin(pr.code, [setup.code_num[c] for c in RADIOLOGY_CODES])
    x = np.flatnonzero(imaging & (pr.status == PROC["C"]))
    np_done = np.flatnonzero(ap.is_new & (ap.status == APT["Complete"]))
    insured = np_done[people.plan[ap.pat[np_done] - 1] > 0]
    labels = ["", "Patient Registration", "Insurance Card"] + setup.code_abbr[1:]
    when = np.concatenate([
        ts(pr.date[x], IMAGE_HOUR * 3600 + rng.integers(0, IMAGE_SPAN_HOURS * 3600, size=len(x))),
        ts(ap.date[np_done], ap.start[np_done] * 60 - FORM_LEAD),
        ts(ap.date[insured], ap.start[insured] * 60 - CARD_LEAD),
    ])
    pat = np.concatenate([pr.pat[x], ap.pat[np_done], ap.pat[insured]])
    category = np.concatenate([np.full(len(x), d[("ImageCats", "xrays")]), np.full(len(np_done), d[("ImageCats",
                                                                                                       "forms")]),
                               np.full(len(insured), d[("ImageCats", "ins_cards")])])
    img_type = np.concatenate([np.full(len(x), image["Radiograph"]), np.full(len(np_done), image["Document"]),
                               np.full(len(insured), image["Photo"])])
    label = np.concatenate([2 + pr.code[x], np.full(len(np_done), 1), np.full(len(insured), 2)])
    tooth = np.concatenate([pr.tooth[x], np.zeros(len(np_done) + len(insured), dtype=np.int64)])
    prov = np.concatenate([pr.prov[x], ap.prov[np_done], np.zeros(len(insured), dtype=np.int64)])
    ext = np.concatenate([np.zeros(len(x), np.int64), np.ones(len(np_done), np.int64), np.zeros(len(insured),
                                                                                               np.int64)])
    when = ctx.stamp(when)
    order = key_order(when, pat)
    n = len(order)
    doc_num = np.arange(1, n + 1)
    file_name = pc.binary_join_element_wise(
        "IMG", pa.array(doc_num).cast(pa.string()), strings([".jpg", ".pdf"], ext[order]), "")
    tooth = tooth[order]
    ctx.put("document", n, {
        "DocNum": doc_num,
        "Description": strings(labels, label[order]),
        "DateCreated": when[order],
        "DocCategory": category[order],
        "PatNum": pat[order],
        "FileName": file_name,
        "ImgType": img_type[order],
        "ToothNumbers": pc.if_else(pa.array(tooth > 0), pa.array(tooth).cast(pa.string()), ""),
        "DateTStamp": when[order],
        "ProvNum": prov[order],
    })


def _refattach(ctx: Context, setup: Setup, people: People, clinical: Clinical) -> None:
    """Writes refattach: the referral source of some recent new patients (RefFrom) and the specialist each
    referred-out procedure went to (RefTo, with its ReferralToStatus), ItemOrder per patient."""
    rng = ctx.rng
    status = enum_codes("PatientStatus")
    rtype = enum_codes("ReferralType")
    rstat = enum_codes("ReferralToStatus")
    specialty = np.array(setup.referral_specialty)
    sources = np.flatnonzero(specialty == "") + 1
    # where new patients came from
    came = np.flatnonzero((people.status != status["Archived"]) & (people.entry >= ctx.start - REFERRED_FROM_DAYS)
                          & (rng.random(people.n) < REFERRED_FROM_RATE))
    from_ref = rng.choice(sources, size=len(came))
    # treatment referred out
    pr = clinical.procs
    out = np.flatnonzero(pr.referred_to >= 0)
    to_ref = np.zeros(len(out), dtype=np.int64)
    for i, key in enumerate(SPECIALTIES):
        m = pr.referred_to[out] == i
        to_ref[m] = rng.choice(np.flatnonzero(specialty == key) + 1, size=m.sum())
    ref_day = pr.date[out]
    outcome = rng.choice([rstat[k] for k in REFERRAL_OUTCOMES], p=list(REFERRAL_OUTCOMES.values()), size=len(out))
    complete_day = ref_day + rng.integers(*REFERRAL_COMPLETE_DAYS, size=len(out))
    outcome = np.where((outcome == rstat["Complete"]) & (complete_day > ctx.as_of), rstat["Consulted"], outcome)
    pat = np.concatenate([came + 1, pr.pat[out]])
    day = np.concatenate([np.minimum(people.entry[came], ctx.as_of), ref_day])
    n = len(pat)
    order = key_order(pat, day, np.arange(n))
    item_order = np.empty(n, dtype=np.int64)
    item_order[order] = rank_within(pat[order])
    rows = key_order(day, pat)
    ref_num = np.concatenate([from_ref, to_ref])
    kind = np.concatenate([np.full(len(came), rtype["RefFrom"]), np.full(len(out), rtype["RefTo"])])
    to_status = np.concatenate([np.zeros(len(came), dtype=np.int64), outcome])
    proc_num = np.concatenate([np.zeros(len(came), dtype=np.int64), out + 1])
    done_day = np.concatenate([np.full(len(came), ZERO_DAY), np.where(outcome == rstat["Complete"], complete_day,
                                                                     ZERO_DAY)])
    prov = np.concatenate([np.zeros(len(came), dtype=np.int64), pr.prov[out]])
    stamp = ctx.stamp(ctx.clock(np.where(done_day > ZERO_DAY, done_day, day)))
    ctx.put("refattach", n, {
        "RefAttachNum": np.arange(1, n + 1),
        "ReferralNum": ref_num[rows],
        "PatNum": pat[rows],
        "ItemOrder": item_order[rows],
        "RefDate": day[rows],
        "RefType": kind[rows],
        "RefToStatus": to_status[rows],
        "ProcNum": proc_num[rows],
        "DateProcComplete": done_day[rows],
        "ProvNum": prov[rows],
        "DateTStamp": stamp[rows],
    })

