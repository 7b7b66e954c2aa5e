"""The PHI inventory (dental_assets/catalog/phi.yml) classifies every raw column, and only real ones."""

from pathlib import Path

import pytest
import yaml

from dental_assets.catalog import opendental_schema, raw_tables
from dental_assets.catalog import phi
from dental_assets.errors import ConfigurationError

DOCS = Path(__file__).resolve().parents[1] / "docs" / "security.md"


@pytest.fixture
def phi_file(tmp_path, monkeypatch):
    """Point the inventory at a copy of phi.yml that the test may edit; the cache is cleared around it."""
    copy = tmp_path / "phi.yml"
    copy.write_text(phi.PHI_FILE.read_text())
    monkeypatch.setattr(phi, "PHI_FILE", copy)
    phi._phi_entries.cache_clear()
    yield copy
    phi._phi_entries.cache_clear()


def test_every_raw_column_has_exactly_one_class():
    inventory = phi.phi_inventory()
    assert phi.unclassified_columns() == {}
    assert list(inventory) == [t.name for t in raw_tables()]
    for table in raw_tables():
        assert list(inventory[table.name]) == table.column_names
        assert set(inventory[table.name].values()) <= set(phi.PHI_CLASSES)
        assert inventory[table.name][table.primary_key] == phi.NOT_PHI  # keys join the marts


def test_the_tables_other_branches_add_are_classified_already():
    schema = opendental_schema()
    pending = tuple(schema[name] for name in ("preference", "payplanlink", "claimsnapshot"))
    assert phi.unclassified_columns(pending) == {}


def test_a_selected_table_without_classification_fails(monkeypatch):
    monkeypatch.setenv("DENTAL_EXTRA_TABLES", "medicationpat")  # an OpenDental table phi.yml does not name
    missing = phi.unclassified_columns()
    assert list(missing) == ["medicationpat"]
    assert missing["medicationpat"] == opendental_schema()["medicationpat"].column_names
    with pytest.raises(ConfigurationError, match=r"tables\.medicationpat.*draft medicationpat"):
        phi.phi_inventory()


def test_a_column_removed_from_phi_yml_is_reported(phi_file):
    text = phi_file.read_text()
    assert "SSN, \n" not in text and " SSN," in text
    phi_file.write_text(text.replace("Birthdate, DateTimeDeceased, SSN,", "Birthdate, DateTimeDeceased,", 1))
    assert phi.unclassified_columns()["patient"] == ["SSN"]
    with pytest.raises(ConfigurationError, match=r"tables\.patient"):
        phi.phi_inventory()


@pytest.mark.parametrize("edit, message", [
    (("[AddrNote,", "[AddrNote, SocialSecurity,"), "does not have"),       # a column that does not exist
    (("  patientnote:", "  patientnotes:"), "not an OpenDental 24.3 table"),  # a table that does not exist
    (("    free_text: [AddrNote,", "    secret: [AddrNote,"), "is not a class"),
    (("[AddrNote,", "[AddrNote, LName,"), "twice"),
])
def test_phi_yml_naming_what_does_not_exist_fails(phi_file, edit, message):
    text = phi_file.read_text()
    assert edit[0] in text
    phi_file.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(ConfigurationError, match=message):
        phi.phi_inventory()


def test_safe_harbor_identifiers_of_patients_are_direct_identifiers():
    inventory = phi.phi_inventory()
    direct = {
        "patient": ["LName", "FName", "SSN", "MedicaidID", "Birthdate", "Address", "City", "Zip", "HmPhone",
                    "WirelessPhone", "Email", "ChartNumber"],
        "inssub": ["SubscriberID"], "patplan": ["PatID"], "patientnote": ["ICEName", "ICEPhone"],
        "referral": ["LName", "SSN", "Telephone", "EMail"], "document": ["FileName", "RawBase64"],
        "statement": ["StatementURL"], "userod": ["Password"], "provider": ["SSN", "Birthdate"],
    }
    for table, columns in direct.items():
        for column in columns:
            assert inventory[table][column] == phi.DIRECT_IDENTIFIER, (table, column)
    for table, column in [("commlog", "Note"), ("adjustment", "AdjNote"), ("claimproc", "Remarks"),
                          ("securitylog", "LogText"), ("procnote", "Note"), ("appointment", "Note")]:
        assert inventory[table][column] == phi.FREE_TEXT, (table, column)
    for table, column in [("procedurelog", "ProcDate"), ("appointment", "AptDateTime"), ("patient", "Gender"),
                          ("patient", "State"), ("claim", "DateService")]:
        assert inventory[table][column] == phi.QUASI_IDENTIFIER, (table, column)
    for table, column in [("provider", "LName"), ("provider", "Abbr"), ("userod", "UserName")]:
        assert inventory[table][column] == phi.STAFF_IDENTIFIER, (table, column)


def test_names_that_say_identifier_are_never_not_phi():
    """A guard against a slip in phi.yml: a patient-linked table's column named like a Safe Harbor
    identifier or a note is never classified not_phi."""
    words = ("SSN", "Phone", "Email", "EMail", "LName", "FName", "Address", "Birthdate", "Note", "Remark",
             "Signature", "URL", "SubscriberID", "MedicaidID")
    schema = opendental_schema()
    for table, columns in phi.phi_inventory().items():
        if not any(c.fk == "patient" for c in schema[table].columns) and table != "patient":
            continue
        for column, phi_class in columns.items():
            col = schema[table].column(column)
            if col.is_pk or col.fk or col.enum or col.is_flag or col.kind in ("int", "float"):
                continue  # keys, codes, flags and numbers (ProcNoteNum, EmailAddressNum)
            if any(word in column for word in words):
                assert phi_class != phi.NOT_PHI, (table, column)


def test_a_person_tables_identifier_named_columns_are_never_downgraded():
    """A guard against a downgrade the hand lists above do not name: in every table about a person (one
    with a last or first name: patient, referral, provider, employee; or one of a patient's: inssub,
    patientnote...), each text column named like a Safe Harbor identifier (a name, an address or its
    city and ZIP, a phone, an e-mail, an SSN, a birth date, a Medicaid or subscriber id) is a direct
    identifier, free text or, for the practice's own people, a staff identifier: never a
    quasi-identifier or not_phi, which marts may carry. Organizations' tables (carrier, clinic,
    laboratory, pharmacy, employer) have neither names of persons nor a patient."""
    words = ("SSN", "Phone", "Email", "EMail", "LName", "FName", "MName", "Address", "Birthdate", "City", "Zip",
             "SubscriberID", "MedicaidID")
    allowed = {phi.DIRECT_IDENTIFIER, phi.FREE_TEXT, phi.STAFF_IDENTIFIER}
    schema = opendental_schema()
    person_tables = [table for table in phi.phi_inventory()
                     if table == "patient" or any(c.name in ("LName", "FName") or c.fk == "patient"
                                                  for c in schema[table].columns)]
    assert {"patient", "referral", "inssub", "patientnote", "provider", "employee"} <= set(person_tables)
    assert not {"carrier", "clinic", "laboratory", "pharmacy", "employer"} & set(person_tables)
    checked = 0
    for table in person_tables:
        for column, phi_class in phi.phi_inventory()[table].items():
            col = schema[table].column(column)
            if col.is_pk or col.fk or col.enum or col.is_flag or col.kind in ("int", "float"):
                continue  # keys, codes, flags and numbers (ZipCodeNum, EmailAddressNum)
            if any(word in column for word in words):
                checked += 1
                assert phi_class in allowed, (table, column, phi_class)
    assert checked >= 30


def test_marts_may_carry_neither_direct_identifiers_nor_free_text():
    """docs/security.md, "Layers": marts carry "no direct identifier, no free text"; the marts checks
    (tests/test_security_roles.py) take the forbidden classes from MART_FORBIDDEN."""
    assert phi.MART_FORBIDDEN == {"direct_identifier", "free_text"}


def test_every_name_and_reference_number_of_a_patient_is_a_direct_identifier():
    """Safe Harbor's names (45 CFR 164.514(b)(2)(i)(A)) and account or other unique numbers ((H), (R)):
    every form of a patient's name in OpenDental 24.3 (Patient.cs: MiddleI "middle initial or name",
    Preferred "preferred name, aka nickname", Salutation "Dear __"; an emergency contact's and a referral's
    names), and the claim's numbers sent to the clearinghouse (Claim.cs: ClaimIdentifier, X12 CLM01,
    "defaults to PatNum/ClaimNum"; PreAuthString, PriorAuthorizationNumber) and a payment's check number."""
    inventory = phi.phi_inventory()
    names = {"patient": ["LName", "FName", "MiddleI", "Preferred", "Salutation"], "patientnote": ["ICEName"],
             "referral": ["LName", "FName", "MName"],
             "claim": ["ClaimIdentifier", "PreAuthString", "PriorAuthorizationNumber", "OrigRefNum"],
             "payment": ["CheckNum"]}
    for table, columns in names.items():
        for column in columns:
            assert inventory[table][column] == phi.DIRECT_IDENTIFIER, (table, column)


def test_draft_suggestions_by_type():
    """The draft command's suggestion per column type (docs/security.md, "Adding a raw table"): text is
    free_text (it may hold anything), a patient-linked table's dates quasi_identifier, keys, flags and numbers
    not_phi; the reviewer moves names and numbers up from there, never text down."""
    schema = opendental_schema()
    commlog, sheet = schema["commlog"], schema["sheet"]
    assert phi.suggest_class(commlog, "Note") == phi.FREE_TEXT
    assert phi.suggest_class(sheet, "InternalNote") == phi.FREE_TEXT
    assert phi.suggest_class(commlog, "CommDateTime") == phi.QUASI_IDENTIFIER
    assert phi.suggest_class(commlog, "CommlogNum") == phi.NOT_PHI
    assert phi.suggest_class(commlog, "PatNum") == phi.NOT_PHI
    entry = yaml.safe_load(phi.draft_entry("commlog"))["commlog"]
    assert "Note" in entry["free_text"]


def test_draft_entry_covers_every_column_of_a_new_table():
    entry = yaml.safe_load(phi.draft_entry("sheet"))["sheet"]
    drafted = [name for names in entry.values() for name in names]
    assert sorted(drafted) == sorted(opendental_schema()["sheet"].column_names)
    assert set(entry) <= set(phi.PHI_CLASSES)
    with pytest.raises(ConfigurationError):
        phi.draft_entry("no_such_table")


def test_docs_security_lists_the_inventory():
    text = DOCS.read_text()
    assert phi.inventory_markdown() in text, "run: python -m dental_assets.catalog.phi markdown"
    assert text.count(phi.MARKDOWN_BEGIN) == 1
