"""The synthetic OpenDental practice: a deterministic, coherent practice on OpenDental 24.3's raw tables.

    from dental_synthetic import SyntheticConfig, generate
    practice = generate(SyntheticConfig(as_of=datetime.date(2025, 6, 30), patients=5000, seed=42))
    practice.tables["procedurelog"]   # pyarrow.Table, OpenDental's columns
    practice.ledger["aging"]          # the family aging OpenDental stores on guarantors

Writers: ``write_postgres_raw`` (schema ``raw`` plus the ground truth in schema ``synthetic``; only into
a database marked as a demo target, see ``dental_synthetic.safety``), ``write_parquet`` and
``dental_synthetic.mariadb_writer.write_mariadb``. ``make_dirty`` injects real-world data problems;
``dental_synthetic.validate`` checks the invariants on a practice or a database. This package does not
import Dagster.
"""

from .config import SyntheticConfig
from .dirty import make_dirty
from .generate import Practice, generate
from .safety import NotADemoTargetError, ensure_demo_target
from .writers import write_parquet, write_postgres_raw

__all__ = [
    "NotADemoTargetError",
    "Practice",
    "SyntheticConfig",
    "ensure_demo_target",
    "generate",
    "make_dirty",
    "write_parquet",
    "write_postgres_raw",
]
