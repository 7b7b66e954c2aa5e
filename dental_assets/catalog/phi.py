"""The PHI inventory: the protected-health-information class of every raw column (``phi.yml``).

Classes (``PHI_CLASSES``), as ``phi.yml`` defines them after HIPAA Safe Harbor: ``direct_identifier``,
``quasi_identifier``, ``free_text``, ``staff_identifier``, ``not_phi``. docs/security.md lists the
inventory (``inventory_markdown``) and says which warehouse layer may carry which class.

Command line::

    python -m dental_assets.catalog.phi draft <table>   # a phi.yml entry to review, from column types
    python -m dental_assets.catalog.phi markdown        # the inventory section of docs/security.md
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import yaml

from dental_assets.catalog import CATALOG_DIR, Table, opendental_schema, raw_tables
from dental_assets.errors import ConfigurationError

PHI_FILE = CATALOG_DIR / "phi.yml"

DIRECT_IDENTIFIER = "direct_identifier"
QUASI_IDENTIFIER = "quasi_identifier"
FREE_TEXT = "free_text"
STAFF_IDENTIFIER = "staff_identifier"
NOT_PHI = "not_phi"
PHI_CLASSES = (DIRECT_IDENTIFIER, QUASI_IDENTIFIER, FREE_TEXT, STAFF_IDENTIFIER, NOT_PHI)

# The classes that never reach the marts (nor an analyst): docs/security.md, "Layers".
MART_FORBIDDEN = frozenset({DIRECT_IDENTIFIER, FREE_TEXT})

MARKDOWN_BEGIN = "<!-- phi-inventory:begin (python -m dental_assets.catalog.phi markdown) -->"
MARKDOWN_END = "<!-- phi-inventory:end -->"


@functools.lru_cache(maxsize=1)
def _phi_entries() -> dict[str, dict[str, str]]:
    """``{table: {column: class}}`` as phi.yml states it, for every table it names (selected or not).

    Raises ConfigurationError for an unknown class, a table or column OpenDental 24.3 does not have,
    or a column named twice."""
    data = yaml.safe_load(PHI_FILE.read_text()) or {}
    schema = opendental_schema()
    entries: dict[str, dict[str, str]] = {}
    for table_name, classes in (data.get("tables") or {}).items():
        if table_name not in schema:
            raise ConfigurationError(f"phi.yml tables.{table_name}", "is not an OpenDental 24.3 table",
                                     "patient")
        known = set(schema[table_name].column_names)
        columns: dict[str, str] = {}
        for phi_class, names in (classes or {}).items():
            if phi_class not in PHI_CLASSES:
                raise ConfigurationError(f"phi.yml tables.{table_name}.{phi_class}",
                                         f"is not a class; use one of {', '.join(PHI_CLASSES)}", NOT_PHI)
            for name in names or ():
                if name not in known:
                    raise ConfigurationError(f"phi.yml tables.{table_name}.{phi_class}",
                                             f"names {name!r}, which {table_name} does not have",
                                             schema[table_name].primary_key)
                if name in columns:
                    raise ConfigurationError(f"phi.yml tables.{table_name}",
                                             f"classifies {name!r} twice ({columns[name]}, {phi_class})",
                                             f"{name} under one class")
                columns[name] = phi_class
        entries[table_name] = columns
    return entries


def unclassified_columns(tables: tuple[Table, ...] | None = None) -> dict[str, list[str]]:
    """``{table: [column, ...]}``: the columns of ``tables`` (default: the raw selection) phi.yml does not
    classify; a table without an entry lists all its columns. Empty when the inventory is complete."""
    entries = _phi_entries()
    missing: dict[str, list[str]] = {}
    for table in raw_tables() if tables is None else tables:
        classified = entries.get(table.name, {})
        gaps = [name for name in table.column_names if name not in classified]
        if gaps:
            missing[table.name] = gaps
    return missing


def phi_inventory() -> dict[str, dict[str, str]]:
    """``{table: {column: class}}`` for every table of the raw selection, columns in database order.

    Raises ConfigurationError when a selected column has no class in phi.yml (the message names the
    first table and how to draft its entry)."""
    missing = unclassified_columns()
    if missing:
        table, columns = next(iter(missing.items()))
        raise ConfigurationError(
            f"dental_assets/catalog/phi.yml tables.{table}",
            f"gives no class to {len(columns)} column(s) ({', '.join(columns[:5])}...)"
            f"{'' if len(missing) == 1 else f' and {len(missing) - 1} more table(s)'}",
            f"python -m dental_assets.catalog.phi draft {table}",
        )
    entries = _phi_entries()
    return {t.name: {c: entries[t.name][c] for c in t.column_names} for t in raw_tables()}


def phi_class(table: str, column: str) -> str:
    """The class of raw ``table``.``column`` (OpenDental's names), one of ``PHI_CLASSES``.

    Raises KeyError when phi.yml does not classify it."""
    try:
        return _phi_entries()[table][column]
    except KeyError:
        raise KeyError(f"phi.yml does not classify {table}.{column}") from None


def suggest_class(table: Table, column_name: str) -> str:
    """A starting point for a new entry, from the column's type alone (the draft command): keys, codes,
    flags and numbers ``not_phi``; dates ``quasi_identifier`` when the table has a patient key; text
    ``free_text``. Every suggestion must be reviewed against the column's meaning."""
    col = table.column(column_name)
    patient_linked = any(c.fk == "patient" for c in table.columns) or table.name == "patient"
    if col.is_pk or col.fk or col.enum or col.is_flag or col.kind in ("int", "float"):
        return NOT_PHI
    if col.kind in ("date", "datetime", "timestamp", "time"):
        return QUASI_IDENTIFIER if patient_linked else NOT_PHI
    return FREE_TEXT


def draft_entry(table_name: str) -> str:
    """The phi.yml entry of ``table_name`` (any OpenDental 24.3 table) with ``suggest_class``'s classes, as
    YAML text to review and paste. Raises ConfigurationError for an unknown table."""
    schema = opendental_schema()
    if table_name not in schema:
        raise ConfigurationError("table", f"{table_name!r} is not an OpenDental 24.3 table", "patient")
    table = schema[table_name]
    by_class: dict[str, list[str]] = {}
    for col in table.columns:
        by_class.setdefault(suggest_class(table, col.name), []).append(col.name)
    lines = [f"  {table_name}:  # drafted from column types: review every column"]
    for phi_class in PHI_CLASSES:
        if by_class.get(phi_class):
            lines.append(f"    {phi_class}: [{', '.join(by_class[phi_class])}]")
    return "\n".join(lines)


def inventory_markdown() -> str:
    """The inventory as Markdown: one row per raw table, its columns per class (``not_phi`` counted),
    between ``MARKDOWN_BEGIN`` and ``MARKDOWN_END``."""
    inventory = phi_inventory()
    rows = [
        MARKDOWN_BEGIN,
        "| table | direct_identifier | quasi_identifier | free_text | staff_identifier | not_phi |",
        "|---|---|---|---|---|---|",
    ]
    for table, columns in inventory.items():
        cells = []
        for phi_class in PHI_CLASSES:
            names = [c for c, k in columns.items() if k == phi_class]
            if phi_class == NOT_PHI:
                cells.append(str(len(names)))
            else:
                cells.append(", ".join(f"`{n}`" for n in names))
        rows.append(f"| `{table}` | " + " | ".join(cells) + " |")
    totals = {k: sum(1 for cols in inventory.values() for v in cols.values() if v == k) for k in PHI_CLASSES}
    rows.append("| **columns** | " + " | ".join(str(totals[k]) for k in PHI_CLASSES) + " |")
    rows.append(MARKDOWN_END)
    return "\n".join(rows) + "\n"


def write_markdown(path: Path) -> bool:
    """Replace the inventory section of ``path`` (between the markers) by ``inventory_markdown()``;
    returns True when the file changed. Raises ConfigurationError when the markers are missing."""
    text = path.read_text()
    start, end = text.find(MARKDOWN_BEGIN), text.find(MARKDOWN_END)
    if start < 0 or end < start:
        raise ConfigurationError(str(path), "has no PHI inventory markers", MARKDOWN_BEGIN)
    updated = text[:start] + inventory_markdown() + text[end + len(MARKDOWN_END) + 1:]
    if updated != text:
        path.write_text(updated)
    return updated != text


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "draft":
        print(draft_entry(argv[1].lower()))
        return 0
    if argv == ["markdown"]:
        target = Path(__file__).resolve().parents[2] / "docs" / "security.md"
        changed = write_markdown(target)
        print(f"{target}: {'updated' if changed else 'already in sync'}")
        return 0
    print(__doc__.split("Command line::")[1].rstrip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
