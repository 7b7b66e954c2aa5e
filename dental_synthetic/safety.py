"""The guard that keeps synthetic data out of databases that may hold real patient data.

The generator writes only into a PostgreSQL database **marked as a demo target**: one that holds the
table ``public.dental_demo_target`` (``dental_assets.warehouse.DEMO_MARKER_TABLE``). The embedded
warehouse is created with the mark; ``dental_assets.warehouse.mark_demo_target(params)`` (or
``dental warehouse mark-demo``) marks another database. Never mark a database that holds real
practice data. ``force=True`` skips the check, for a database you know to be disposable.

Error messages name the server and database, never credentials or data.
"""

from __future__ import annotations

from dental_assets.warehouse import DEMO_MARKER_TABLE, PgParams, is_demo_target


class NotADemoTargetError(RuntimeError):
    """Raised instead of writing synthetic data into a database that is not marked as a demo target."""


def ensure_demo_target(params: PgParams, force: bool = False) -> None:
    """Return if ``params`` names a demo target (or ``force``); raise NotADemoTargetError otherwise."""
    if force:
        return
    if not is_demo_target(params):
        raise NotADemoTargetError(
            f"refusing to write synthetic data into {params.describe()}: it is not marked as a demo target "
            f"(no table public.{DEMO_MARKER_TABLE}). Mark a disposable database with "
            "`dental warehouse mark-demo`, or pass force=True / --force."
        )
