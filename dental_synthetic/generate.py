"""``generate(config) -> Practice``: the whole synthetic practice as Arrow tables plus its books."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dental_assets.catalog import raw_tables

from . import clinical_history, forms_tasks, insurance_followup, lab_staff
from .billing import build_billing
from .columns import arrow_schema, build_table
from .config import SyntheticConfig
from .contacts import build_contacts
from .extras import EXTRA_TABLES, STATEMENT_DOCUMENTS, build_extras
from .context import Context
from .ledger import daily_ledger, family_aging, patient_balances
from .people import build_people
from .practice import build_setup
from .schedule import build_schedule

COLLECTIONS_MIN_OVER_90 = 300  # dollars over 90 days: a family owing more may be sent to collections ...
COLLECTIONS_RATE = 0.3  # ... and this share of them are (BillingType "collections")

# Issue #14's stages, run after every other: each is a module with ``TABLES`` (the tables it produces)
# and ``build(ctx, setup, people, tables)``, which reads the finished Arrow tables and draws only from a
# random stream of its own (``Context.stream``), so adding one changes no other table.
LATER_STAGES: tuple = (clinical_history, insurance_followup, lab_staff, forms_tasks)


@dataclass(frozen=True)
class Practice:
    """A generated practice.

    ``tables``: one Arrow table per raw-layer table (``raw_tables()`` order), every catalog column in
    catalog order, no nulls. ``ledger``: ``"aging"`` (one row per guarantor: Guarantor, Bal_0_30,
    Bal_31_60, Bal_61_90, BalOver90, BalTotal, InsEst (insurance pending), PayPlanDue, PatientPortion
    (BalTotal - InsEst) in dollars, as of ``config.as_of``) and ``"daily"`` (per Date, ClinicNum, ProvNum:
    Production, Adjustments, WriteOffs, PatientIncome, InsuranceIncome in dollars); the later stages'
    ground truth (``Context.truth``: ``"perio_exams"`` and ``"perio_followup"``,
    ``dental_synthetic.clinical_history``); dirty mode adds ``"injections"`` (``dental_synthetic.dirty``).
    """

    config: SyntheticConfig
    tables: dict[str, pa.Table]
    ledger: dict[str, pa.Table]
    dirty_rate: float = 0.0  # 0: clean; otherwise the rate dirty mode injected problems at

    def row_counts(self) -> dict[str, int]:
        """Rows per table, in table order."""
        return {name: table.num_rows for name, table in self.tables.items()}


def generate(config: SyntheticConfig) -> Practice:
    """Simulate a practice from ``config.start`` to ``config.as_of``. Deterministic: the same config
    gives byte-identical tables."""
    ctx = Context.create(config)
    setup = build_setup(ctx)
    people = build_people(ctx, setup)
    clinical = build_schedule(ctx, setup, people)
    build_billing(ctx, setup, people, clinical)

    catalog = {t.name: t for t in raw_tables()}
    tables: dict[str, pa.Table] = {}
    for name in list(ctx.values):
        if name in catalog:
            tables[name] = _take(ctx, catalog, name)

    # the books, then the aging columns OpenDental stores on the guarantor
    aging = family_aging(tables, people.guarantor, config.as_of)
    _store_aging(ctx, setup, people, tables, aging)
    tables["patient"] = build_table(catalog["patient"], people.n, people.patient_values)

    build_contacts(ctx, setup, people, clinical, tables, aging)
    del clinical  # the schedule's working arrays: nothing after the contacts reads them (memory)
    for name in ("commlog", "document", "refattach"):
        if name in catalog:
            tables[name] = _take(ctx, catalog, name)
    build_extras(ctx, setup, people, tables)
    for name in EXTRA_TABLES:
        if name in catalog:
            tables[name] = _take(ctx, catalog, name)
    if "document" in catalog and STATEMENT_DOCUMENTS in ctx.values:
        tables["document"] = pa.concat_tables([tables["document"], _take(ctx, catalog, STATEMENT_DOCUMENTS, "document")])
    for stage in LATER_STAGES:
        stage.build(ctx, setup, people, tables)
        for name in stage.TABLES:
            if name in catalog:
                tables[name] = _take(ctx, catalog, name)

    ordered = {}
    for table in catalog.values():  # a table added to the selection but not generated yet: no rows
        ordered[table.name] = tables[table.name] if table.name in tables else arrow_schema(table).empty_table()
    portion = np.rint(aging.column("BalTotal").to_numpy() * 100) - np.rint(aging.column("InsEst").to_numpy() * 100)
    aging = aging.append_column("PatientPortion", pa.array(portion / 100.0))
    return Practice(config=config, tables=ordered, ledger={"aging": aging, "daily": daily_ledger(ordered),
                                                                   **ctx.truth})


def _take(ctx: Context, catalog: dict, key: str, table: str | None = None) -> pa.Table:
    """The Arrow table of the values ``ctx`` holds under ``key`` (for catalog table ``table``, default
    ``key``); the values are released (the key stays, so the table cannot be produced twice): later
    stages read the Arrow tables, and at 100,000 patients the two copies would not fit in 4 GB."""
    n, values = ctx.values[key]
    ctx.values[key] = (n, {})
    return build_table(catalog[table or key], n, values)


def _store_aging(ctx: Context, setup, people, tables: dict[str, pa.Table], aging: pa.Table) -> None:
    """Write the family aging onto guarantor rows (others zero), each patient's EstBalance (own balance
    minus own pending insurance estimates), and move families with old balances to collections."""
    values = people.patient_values
    guars = aging.column("Guarantor").to_numpy() - 1
    for name in ("Bal_0_30", "Bal_31_60", "Bal_61_90", "BalOver90", "BalTotal", "InsEst", "PayPlanDue"):
        column = np.zeros(people.n)
        column[guars] = aging.column(name).to_numpy()
        values[name] = column
    balance, est = patient_balances(tables, people.n)
    values["EstBalance"] = (balance - est) / 100.0
    over90 = np.zeros(people.n)
    over90[guars] = aging.column("BalOver90").to_numpy()
    to_collections = (over90 > COLLECTIONS_MIN_OVER_90) & (ctx.rng.random(people.n) < COLLECTIONS_RATE)
    fam_flag = to_collections[people.guarantor - 1]
    billing = np.asarray(values["BillingType"]).copy()
    billing[fam_flag] = setup.defs[("BillingTypes", "collections")]
    values["BillingType"] = billing
