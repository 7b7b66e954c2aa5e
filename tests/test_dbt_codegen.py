"""Pure tests of dental_assets.dbt_codegen: no database, no dbt run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from dental_assets import dbt_codegen
from dental_assets.catalog import Column, Table, raw_tables


@pytest.fixture(autouse=True)
def _catalog_selection_only(monkeypatch):
    """The generated files reflect tables.yml alone: ignore any DENTAL_EXTRA_TABLES of the caller."""
    monkeypatch.delenv("DENTAL_EXTRA_TABLES", raising=False)


@pytest.fixture(scope="module")
def files() -> dict[Path, str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DENTAL_EXTRA_TABLES", raising=False)
        return dbt_codegen.generated_files()


def _load(text: str):
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _staging_sql(files: dict[Path, str]) -> dict[str, str]:
    return {path.stem: text for path, text in files.items() if path.suffix == ".sql"}


def _fake_table(*columns: Column) -> Table:
    return Table(name="faketable", columns=columns, primary_key=columns[0].name,
                 modified_column=None, entry_column=None, is_large=False)


def test_one_staging_model_per_raw_table(files):
    tables = raw_tables()
    sql = _staging_sql(files)
    assert sorted(sql) == sorted(f"stg_opendental__{t.name}" for t in tables)
    assert all(path.parent == Path("models/staging") for path in files)
    assert len(files) == len(tables) + 2  # plus the sources and the staging models yml


def test_sources_yml_lists_exactly_the_catalog_tables_and_columns(files):
    document = _load(files[Path("models/staging/_opendental__sources.yml")])
    (source,) = document["sources"]
    assert source["name"] == "opendental"
    assert source["schema"] == "raw"
    listed = {t["name"]: [c["name"] for c in t["columns"]] for t in source["tables"]}
    expected = {t.name: t.column_names for t in raw_tables()}
    assert listed == expected
    for source_table in source["tables"]:
        table = next(t for t in raw_tables() if t.name == source_table["name"])
        for entry in source_table["columns"]:
            assert entry["quote"] is True
            assert entry["config"]["meta"]["mysql_type"] == table.column(entry["name"]).mysql_type


def test_staging_sql_renames_every_column_and_cleans(files):
    sql = _staging_sql(files)
    for table in raw_tables():
        text = sql[f"stg_opendental__{table.name}"]
        assert f"{{{{ source('opendental', '{table.name}') }}}}" in text
        assert text.rstrip().endswith("select * from renamed")
        assert re.search(r"^with source as \($", text, re.M)
        assert re.search(r"^renamed as \($", text, re.M)
        aliases = re.findall(r"\bas ([a-z0-9_]+),?$", text, re.M)
        expected = []
        for c in table.columns:
            expected.append(c.snake_name)
            if not c.is_pk and dbt_codegen.enum_codes(c) is not None:
                expected.append(f"{c.snake_name}_code")
        assert aliases == expected
        for col in table.columns:
            line = next(l for l in text.splitlines() if l.rstrip(",").endswith(f" as {col.snake_name}"))
            quoted = f'"{col.name}"'
            if col.is_pk:
                assert line.split()[0] == quoted
            elif col.kind in ("date", "datetime", "timestamp"):
                assert f"clean_date('{quoted}')" in line
            elif col.fk and col.kind == "int":
                assert f"zero_to_null('{quoted}')" in line
            elif col.is_flag:
                assert f"to_boolean('{quoted}')" in line
            elif col.kind == "str":
                assert f"strip_control_chars('{quoted}')" in line
            elif dbt_codegen.enum_codes(col) is not None:
                codes = ", ".join(str(c) for c in dbt_codegen.enum_codes(col))
                assert line.strip().startswith(f"case when {quoted} in ({codes}) then {quoted} end")
                raw = next(l for l in text.splitlines() if l.rstrip(",").endswith(f" as {col.snake_name}_code"))
                assert raw.split()[0] == quoted
            else:
                assert line.split()[0] == quoted


def test_primary_key_keeps_its_snake_case_name():
    procedurelog = next(t for t in raw_tables() if t.name == "procedurelog")
    assert dbt_codegen.primary_key_alias(procedurelog) == "proc_num"
    expression = dbt_codegen.column_expression(procedurelog.column("ProcNum"))
    assert expression == '"ProcNum"'
    # a primary key that is also a foreign key (patientnote.PatNum) is never NULLed
    patientnote = next(t for t in raw_tables() if t.name == "patientnote")
    assert dbt_codegen.column_expression(patientnote.column("PatNum")) == '"PatNum"'


def test_staging_models_yml_tests_each_primary_key(files):
    document = _load(files[Path("models/staging/_staging__models.yml")])
    models = {m["name"]: m for m in document["models"]}
    assert sorted(models) == sorted(f"stg_opendental__{t.name}" for t in raw_tables())
    for table in raw_tables():
        model = models[f"stg_opendental__{table.name}"]
        assert model["description"]
        tested = {c["name"]: c.get("data_tests") for c in model["columns"] if c.get("data_tests")}
        expected = {dbt_codegen.primary_key_alias(table): ["unique", "not_null"]}
        for col in table.columns:
            codes = dbt_codegen.enum_codes(col)
            if codes is not None and not col.is_pk:
                expected[col.snake_name] = [{"accepted_values": {"arguments": {"values": codes,
                                                                               "quote": False}}}]
        assert tested == expected


def test_models_with_double_columns_test_their_amounts(files):
    """Every staging model with a double column, and no other, has one named amounts_in_range test over
    exactly those columns, keyed by its primary key (docs/dbt.md, Dirty data)."""
    models = {m["name"]: m for m in _load(files[Path("models/staging/_staging__models.yml")])["models"]}
    for table in raw_tables():
        doubles = [c.snake_name for c in table.columns if c.mysql_type.startswith(("double", "float"))]
        name = f"stg_opendental__{table.name}"
        expected = [{"amounts_in_range": {"name": f"amounts_in_range_{name}", "arguments": {
            "key": dbt_codegen.primary_key_alias(table), "columns": doubles}}}] if doubles else None
        assert models[name].get("data_tests") == expected, table.name
    paysplit = next(t for t in raw_tables() if t.name == "paysplit")
    assert dbt_codegen.amount_columns(paysplit) == ["split_amt"]


def test_enum_columns_are_tested_with_opendental_codes():
    procedurelog = next(t for t in raw_tables() if t.name == "procedurelog")
    assert dbt_codegen.enum_codes(procedurelog.column("ProcStatus")) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert dbt_codegen.enum_codes(procedurelog.column("ProcFee")) is None
    appointment = next(t for t in raw_tables() if t.name == "appointment")
    assert dbt_codegen.enum_codes(appointment.column("AptStatus")) == list(range(9))


def test_flags_are_booleans_and_counts_are_not():
    procedurecode = next(t for t in raw_tables() if t.name == "procedurecode")
    assert procedurecode.column("IsHygiene").is_flag
    assert dbt_codegen.column_expression(procedurecode.column("IsHygiene")) == (
        "{{ to_boolean('\"IsHygiene\"') }}"
    )
    assert not procedurecode.column("TreatArea").is_flag  # an enum code
    patplan = next(t for t in raw_tables() if t.name == "patplan")
    assert not patplan.column("Ordinal").is_flag  # a number held in a tinyint
    claimproc = next(t for t in raw_tables() if t.name == "claimproc")
    assert not claimproc.column("Percentage").is_flag  # TinyIntSigned


def test_generated_files_start_with_the_generated_comment(files):
    for path, text in files.items():
        first = text.splitlines()[0]
        prefix = "--" if path.suffix == ".sql" else "#"
        assert first.startswith(prefix)
        assert dbt_codegen.GENERATED_MARKER in first
        assert "python -m dental_assets.dbt_codegen" in first


def test_generated_files_on_disk_are_up_to_date(files):
    problems = dbt_codegen.check_files(dbt_codegen.DBT_PROJECT_DIR, files)
    assert problems == [], "run `python -m dental_assets.dbt_codegen`"


def test_generation_is_deterministic(files):
    assert dbt_codegen.generated_files() == files


def test_snake_case_collision_raises():
    table = _fake_table(
        Column("FakeNum", "bigint(20)", 0, is_pk=True),
        Column("DateTStamp", "timestamp", 1),
        Column("DateT_Stamp", "datetime", 2),
    )
    with pytest.raises(ValueError, match="date_t_stamp"):
        dbt_codegen.column_aliases(table)
    with pytest.raises(ValueError, match="both become"):
        dbt_codegen.render_staging_sql(table)


def test_reserved_word_raises_and_rename_resolves(monkeypatch):
    table = _fake_table(Column("FakeNum", "bigint(20)", 0, is_pk=True), Column("Order", "int(11)", 1))
    with pytest.raises(ValueError, match="reserved"):
        dbt_codegen.column_aliases(table)
    monkeypatch.setitem(dbt_codegen.COLUMN_RENAMES, ("faketable", "Order"), "order_number")
    assert [alias for _, alias in dbt_codegen.column_aliases(table)] == ["fake_num", "order_number"]


def test_no_catalog_table_collides():
    for table in raw_tables():
        aliases = [alias for _, alias in dbt_codegen.column_aliases(table)]
        assert len(aliases) == len(set(aliases))


def test_check_detects_changed_missing_and_stale_files(files, tmp_path):
    assert dbt_codegen.main(["--project-dir", str(tmp_path)]) == 0
    assert dbt_codegen.main(["--check", "--project-dir", str(tmp_path)]) == 0

    changed = tmp_path / "models/staging/stg_opendental__patient.sql"
    changed.write_text(changed.read_text() + "-- edited\n")
    (tmp_path / "models/staging/_opendental__sources.yml").unlink()
    stale = tmp_path / "models/staging/stg_opendental__nosuchtable.sql"
    stale.write_text(f"-- {dbt_codegen.GENERATED_MARKER}\nselect 1\n")
    handwritten = tmp_path / "models/staging/stg_opendental__handwritten.sql"
    handwritten.write_text("select 1\n")

    problems = dbt_codegen.check_files(tmp_path, files)
    assert "out of date: models/staging/stg_opendental__patient.sql" in problems
    assert "missing: models/staging/_opendental__sources.yml" in problems
    assert "stale: models/staging/stg_opendental__nosuchtable.sql" in problems
    assert not any("handwritten" in p for p in problems)
    assert dbt_codegen.main(["--check", "--project-dir", str(tmp_path)]) == 1

    assert dbt_codegen.main(["--project-dir", str(tmp_path)]) == 0
    assert not stale.exists() and handwritten.exists()
    assert dbt_codegen.check_files(tmp_path, files) == []
