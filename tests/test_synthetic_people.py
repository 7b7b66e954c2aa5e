"""The synthetic practice's people and places (``dental_synthetic.identity``): Faker pools, family coherence,
fictional contact details, determinism across processes, and a random stream of their own.

In-memory only: one 2,000-patient practice (two clinics) shared by most tests.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from dental_assets.catalog import opendental_enums
from dental_synthetic import SyntheticConfig, generate, identity
from dental_synthetic import reference as ref

AS_OF = dt.date(2025, 6, 30)
SEED = 7
ROOT = Path(__file__).resolve().parent.parent

# every column the people stream and the Faker pools fill; everything else must not depend on them
IDENTITY_COLUMNS = {
    "patient": {"LName", "FName", "MiddleI", "Address", "City", "Zip", "HmPhone", "WirelessPhone", "Email",
                "ImageFolder"},
    "provider": {"LName", "FName", "MI"},
    "userod": {"UserName"},
    "employee": {"LName", "FName"},
    "apptview": {"Description"},  # a view per clinic, named after the clinic
    "pharmacy": {"City", "Zip", "Phone", "Fax"},  # pharmacies near each clinic, in its town and area code
    "clinic": {"Description", "Abbr", "Address", "City", "Zip"},
    "operatory": {"OpName"},
    "zipcode": {"ZipCodeDigits", "City", "IsFrequent"},
    "employer": {"EmpName", "Address", "City", "Zip", "Phone"},
    "insplan": {"GroupName"},
    "referral": {"LName", "FName", "Telephone", "Address", "City", "Zip", "BusinessName"},
    "sheetfield": {"FieldValue"},  # forms filled in with the patient's name, phone, e-mail, zip (forms_tasks)
}
PATIENT_PHONE = re.compile(r"^\((\d{3})\)555-01\d\d$")  # OpenDental's display format, fictional 555-01xx line
PLAIN_PHONE = re.compile(r"^(\d{3})55501\d\d$")


@pytest.fixture(scope="module")
def practice():
    return generate(SyntheticConfig(as_of=AS_OF, patients=2000, seed=SEED))


def _col(practice, table: str, column: str) -> np.ndarray:
    return practice.tables[table].column(column).to_numpy(zero_copy_only=False)


def _families(practice):
    """(guarantor, rows) of every family with two or more members, merged duplicates left out."""
    guar = _col(practice, "patient", "Guarantor")
    order = np.argsort(guar, kind="stable")
    bounds = np.flatnonzero(np.diff(guar[order])) + 1
    return [(int(guar[g[0]]), g) for g in np.split(order, bounds) if len(g) > 1]


def test_names_come_from_the_faker_pools_and_are_diverse(practice):
    pools = identity.faker_pools(SEED)
    first = _col(practice, "patient", "FName")
    last = _col(practice, "patient", "LName")
    gender = _col(practice, "patient", "Gender")
    assert set(first[gender == 1]) <= set(pools.female)
    assert set(first[gender == 0]) <= set(pools.male)
    assert set(first) <= set(pools.female + pools.male + pools.nonbinary)
    assert set(last) <= set(pools.last)
    # well beyond a hand-written list of a hundred names, and the common names are common
    assert len(set(last)) > 300 and len(set(first)) > 250
    values, counts = np.unique(last, return_counts=True)
    assert counts.max() >= 5 * np.median(counts)
    provider_names = set(_col(practice, "provider", "LName"))
    assert provider_names <= set(pools.last)
    assert list(_col(practice, "employer", "EmpName")) == list(pools.employers)
    users = _col(practice, "userod", "UserName")
    assert len(set(users)) == len(users) and all(re.fullmatch(r"[a-z]+\d*", u) for u in users)


def test_pools_are_seeded_and_faker_is_pinned_to_en_us():
    assert identity.FAKER_LOCALE == "en_US"
    a = identity.faker_pools.__wrapped__(SEED)
    b = identity.faker_pools.__wrapped__(SEED)
    assert a == b
    assert identity.faker_pools.__wrapped__(SEED + 1) != a
    assert len(a.zip_digits) == identity.ZIP_COUNT == len(set(a.zip_digits))
    assert len(set(a.towns)) == identity.TOWN_COUNT and sorted(set(a.zip_town)) == list(range(identity.TOWN_COUNT))
    assert list(a.zip_town) == sorted(a.zip_town)  # a town's ZIP codes are consecutive
    assert all(z.startswith(ref.ZIP_PREFIX) and len(z) == 5 for z in a.zip_digits)


def test_a_family_shares_address_town_home_phone_and_mostly_its_name(practice):
    position = {v["name"]: int(v["value"]) for v in opendental_enums()["PatientPosition"]["values"]}
    cols = {c: _col(practice, "patient", c) for c in ("LName", "Address", "City", "Zip", "HmPhone", "Position")}
    families = _families(practice)
    assert len(families) > 300
    same_name = 0
    for guarantor, rows in families:
        for c in ("Address", "City", "Zip", "HmPhone"):
            assert len(set(cols[c][rows])) == 1, (c, guarantor)
        children = rows[cols["Position"][rows] == position["Child"]]
        assert (cols["LName"][children] == cols["LName"][guarantor - 1]).all(), guarantor
        same_name += len(set(cols["LName"][rows])) == 1
    assert 0.8 < same_name / len(families) < 1.0  # some spouses kept their own name
    # different families do not share one address
    heads = np.array([g - 1 for g, _ in families])
    assert len(set(cols["Address"][heads])) > 0.95 * len(heads)


def test_places_agree_with_the_zipcode_table(practice):
    zipcode = dict(zip(_col(practice, "zipcode", "ZipCodeDigits"), _col(practice, "zipcode", "City")))
    assert set(_col(practice, "zipcode", "State")) == {ref.STATE}
    for table in ("patient", "clinic", "employer", "referral"):
        zips, cities = _col(practice, table, "Zip"), _col(practice, table, "City")
        state = "ST" if table == "referral" else "State"
        filled = zips != ""
        assert filled.sum() > 0, table
        assert all(zipcode.get(z) == c for z, c in zip(zips[filled], cities[filled])), table
        assert set(_col(practice, table, state)[filled]) == {ref.STATE}, table
    # the clinics' towns are the zipcode table's frequent ones
    frequent = set(_col(practice, "zipcode", "City")[_col(practice, "zipcode", "IsFrequent") == 1])
    assert frequent == set(_col(practice, "clinic", "City"))
    for name, city in zip(_col(practice, "clinic", "Description"), _col(practice, "clinic", "City")):
        assert name.startswith(city)


def test_phones_are_fictional_and_formatted_as_opendental_stores_them(practice):
    home = _col(practice, "patient", "HmPhone")
    mobile = _col(practice, "patient", "WirelessPhone")
    assert all(PATIENT_PHONE.fullmatch(p).group(1) in ref.AREA_CODES for p in home)
    assert (mobile != "").mean() > 0.5
    assert all(PATIENT_PHONE.fullmatch(p).group(1) in ref.MOBILE_AREA_CODES for p in mobile[mobile != ""])
    assert len(set(mobile)) > 300
    plain = list(_col(practice, "clinic", "Phone")) + list(_col(practice, "employer", "Phone")) + [
        p for p in _col(practice, "referral", "Telephone") if p]
    assert all(PLAIN_PHONE.fullmatch(p).group(1) in ref.AREA_CODES for p in plain)


def test_emails_are_derived_from_names_at_reserved_domains(practice):
    email = _col(practice, "patient", "Email")
    first = _col(practice, "patient", "FName")
    last = _col(practice, "patient", "LName")
    birth = practice.tables["patient"].column("Birthdate").cast("int32").to_numpy()
    age_days = (AS_OF - dt.date(1970, 1, 1)).days - birth
    adult, minor = age_days > 18 * 365.25 + 1, age_days < 18 * 365.25 - 1  # a day's margin for rounding
    has = email != ""
    assert not (has & minor).any()
    assert 0.6 < has[adult].mean() < 0.8
    domains = set()
    for e, f, ln in zip(email[has], first[has], last[has]):
        local, domain = e.split("@")
        domains.add(domain)
        f, ln = re.sub("[^a-z]", "", f.lower()), re.sub("[^a-z]", "", ln.lower())
        assert re.fullmatch(rf"({f}\.{ln}|{f}{ln}|{f[0]}{ln}|{f}_{ln})\d{{0,2}}", local), e
    assert domains == set(identity.EMAIL_DOMAINS)


_HASH_SCRIPT = """
import hashlib, io, json, sys, datetime as dt
import pyarrow.parquet as pq
from dental_synthetic import SyntheticConfig, generate
p = generate(SyntheticConfig(as_of=dt.date(2025, 6, 30), patients=300, seed=3))
out = {}
for name, table in p.tables.items():
    buf = io.BytesIO()
    pq.write_table(table, buf)
    out[name] = hashlib.sha256(buf.getvalue()).hexdigest()
print(json.dumps(out))
"""


def _hashes_in_a_fresh_process(hash_seed: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONHASHSEED=hash_seed)
    proc = subprocess.run([sys.executable, "-c", _HASH_SCRIPT], capture_output=True, text=True, env=env, cwd=ROOT,
                          check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_identical_tables_in_two_processes():
    """Same seed, two interpreters with different string hashing: byte-identical Parquet of every table,
    people and places included (nothing depends on set or dict iteration order)."""
    first, second = _hashes_in_a_fresh_process("1"), _hashes_in_a_fresh_process("2")
    assert first == second
    here = generate(SyntheticConfig(as_of=AS_OF, patients=300, seed=3))
    buf = io.BytesIO()
    pq.write_table(here.tables["patient"], buf)
    assert hashlib.sha256(buf.getvalue()).hexdigest() == first["patient"]


def test_other_pools_change_only_the_people_and_places(monkeypatch):
    """The pools are sampled with their own stream: pools of another seed and of other sizes (another Faker
    version could give both), sampled with more draws (as a change to how people are drawn would), leave
    every other column byte-identical."""
    config = SyntheticConfig(as_of=AS_OF, patients=600, seed=SEED)
    before = generate(config)
    other = identity.faker_pools.__wrapped__(SEED + 100)
    other = dataclasses.replace(other, female=other.female[:700], male=other.male[:900], last=other.last[:1234],
                                streets=other.streets[:77], nonbinary=other.nonbinary[:10])
    monkeypatch.setattr(identity, "faker_pools", lambda seed: other)
    pick = identity.pick

    def pick_after_an_extra_draw(rng, pool, size):
        rng.random(size)
        return pick(rng, pool, size)

    monkeypatch.setattr(identity, "pick", pick_after_an_extra_draw)
    after = generate(config)
    changed = set()
    for name, table in before.tables.items():
        for column in table.column_names:
            if before.tables[name].column(column).equals(after.tables[name].column(column)):
                continue
            changed.add((name, column))
            assert column in IDENTITY_COLUMNS.get(name, set()), (name, column)
    for name in before.ledger:
        assert before.ledger[name].equals(after.ledger[name]), name
    assert ("patient", "LName") in changed and ("employer", "EmpName") in changed
