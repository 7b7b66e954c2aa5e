"""Temporary Dagster instances on this project's own instance storage, for the tests of the automation
(conditions, sensors, run monitoring)."""

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg


@contextmanager
def dental_instance_for_test(**kwargs) -> Iterator[dg.DagsterInstance]:
    """``dg.instance_for_test`` (``kwargs`` passed on) whose storage is ``DentalSqliteStorage`` in the
    instance's temporary folder: what ``dagster.yaml``'s ``DentalInstanceStorage`` loads without
    ``DAGSTER_POSTGRES_URL`` (``dental ui`` on a workstation), where ``dg.instance_for_test`` alone gives
    Dagster's default SQLite storage. So the automation is tested on the storage it runs on; and an event
    stored one by one costs a transaction on a kept connection instead of a new connection and a sync."""
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as home, dg.instance_for_test(
        temp_dir=home,
        overrides={"storage": {"custom": {"module": "dental_assets.instance", "class": "DentalSqliteStorage",
                                          "config": {"base_dir": home}}}},
        **kwargs,
    ) as instance:
        yield instance
