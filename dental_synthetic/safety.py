"""The guard that keeps synthetic data out of databases that may hold real patient data.

The generator writes only into a PostgreSQL database **marked as a demo target**: one that holds the
table ``public.dental_demo_target`` (``dental_assets.warehouse.DEMO_MARKER_TABLE``). The embedded
warehouse is created with the mark; ``dental_assets.warehouse.mark_demo_target(params)`` (or
``dental warehouse mark-demo``) marks another database. Never mark a database that holds real
practice data. ``force=True`` skips the check, for a database you know to be disposable.

A Parquet folder is marked by the file ``.dental_demo_target`` the generator writes into it
(``DEMO_FOLDER_MARKER``): it writes into a folder that is missing, empty or marked, and refuses a folder
holding other files (``ensure_demo_folder``).

Error messages name the server and database, never credentials or data.
"""

from __future__ import annotations

from pathlib import Path

from dental_assets.warehouse import DEMO_MARKER_TABLE, PgParams, is_demo_target

DEMO_FOLDER_MARKER = ".dental_demo_target"  # the file that marks a Parquet folder as the generator's


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


def ensure_demo_folder(folder: Path, force: bool = False) -> None:
    """Return if ``folder`` is missing, empty or marked (``DEMO_FOLDER_MARKER``), or ``force``; raise
    NotADemoTargetError for a folder holding anything else: it may hold someone's files, real data
    included, which the generator's tables would overwrite or sit beside."""
    if force or not folder.is_dir() or (folder / DEMO_FOLDER_MARKER).is_file():
        return
    if next(folder.iterdir(), None) is not None:
        raise NotADemoTargetError(
            f"refusing to write synthetic data into the folder {folder}: it holds files and is not marked as a "
            f"demo target (no file {DEMO_FOLDER_MARKER}, which the generator writes into folders it fills). "
            "Use an empty folder, or pass --force for a folder you know to be disposable.")
