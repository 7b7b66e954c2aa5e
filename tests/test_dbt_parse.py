"""dbt keeps its saved parse when a run's settings change (the run settings are read only when models
execute), so Dagster's runs and the tests do not parse the project again for each as-of date or window."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from dental_assets.defs.dbt.assets import PARTIAL_PARSE_FILE, dbt_project, run_settings_env

# The connection variables profiles.yml reads: unset, as ./dev parses (parsing never connects, so the
# profile's defaults do).
CONNECTION_PREFIX = "DENTAL_PG_"


def _parse(target: Path, settings: dict[str, str]) -> str:
    """``dbt parse`` into ``target`` with the run settings ``settings``; returns dbt's log file."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(CONNECTION_PREFIX)},
           **run_settings_env(settings), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "parse", "--project-dir", str(dbt_project.project_dir),
         "--profiles-dir", str(dbt_project.profiles_dir), "--target-path", str(target), "--log-path", str(target)],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    log = (target / "dbt.log").read_text()
    (target / "dbt.log").unlink()
    return log


def test_new_run_settings_keep_the_saved_parse(tmp_path):
    # ./dev's parse is a valid start (the same connection: the profile's defaults); dbt parses in full otherwise
    saved = dbt_project.project_dir / "target" / PARTIAL_PARSE_FILE
    if saved.exists():
        shutil.copyfile(saved, tmp_path / PARTIAL_PARSE_FILE)
    log = _parse(tmp_path, {})
    # ./dev and dagster-dbt's own parse (dg) render the same connection: neither undoes the other's
    assert not saved.exists() or "profile has changed" not in log, log[-3000:]
    log = _parse(tmp_path, {"as_of_date": "2026-06-30", "min_date": "2025-03-01", "max_date": "2025-04-01"})
    assert "no changes found, skipping parsing" in log, log[-3000:]


def test_dbt_resource_knows_the_version_dbt_reports_without_asking_it(tmp_path):
    """The resource's dbt version (read from the installed dbt-core package) is the one ``dbt --version``
    prints; for an executable elsewhere, dbt itself is asked."""
    import re

    from dagster_dbt import DbtCliResource

    from dental_assets.defs.dbt.assets import dbt_resource

    beside = Path(sys.executable).parent / "dbt"
    reported = subprocess.run([str(beside), "--version"], capture_output=True, text=True, timeout=120).stdout
    installed = re.search(r"installed:\s*(\d+\.\d+\.\d+)", reported)
    assert installed, reported
    assert str(dbt_resource()._cli_version) == installed.group(1)

    elsewhere = tmp_path / "dbt"
    elsewhere.write_text("#!/bin/sh\necho 'Core:\n  - installed: 1.10.99'\n")
    elsewhere.chmod(0o755)
    resource = type(dbt_resource())(project_dir=str(dbt_project.project_dir), dbt_executable=str(elsewhere))
    assert isinstance(resource, DbtCliResource) and str(resource._cli_version) == "1.10.99"


def test_old_dbt_run_folders_are_pruned(tmp_path):
    """Of the run folders (``<op>-<run id>-<hex>``), the ``keep`` newest finished ones stay (by the time
    of their run_results.json, not their name), so does an unfinished one (a running dbt) less than a
    day old; older unfinished ones (a killed run) and older finished ones go; nothing else is touched."""
    from dental_assets.defs.dbt.assets import ABANDONED_RUN_FOLDER_SECONDS, prune_run_targets

    now = 2_000_000_000.0

    def folder(name: str, age_s: float, finished: bool) -> Path:
        path = tmp_path / name
        (path / "compiled").mkdir(parents=True)
        if finished:
            (path / "run_results.json").write_text("{}")
            os.utime(path / "run_results.json", (now - age_s, now - age_s))
        os.utime(path, (now - age_s, now - age_s))
        return path

    # names sort in the opposite order of age: the pruning must go by time
    finished = [folder(f"dental_dbt_models-{i:07x}-abcdef{i}", age_s=100 * (9 - i), finished=True) for i in range(8)]
    running = folder("dental_dbt_facts-fffffff-0000000", age_s=ABANDONED_RUN_FOLDER_SECONDS - 60, finished=False)
    killed = folder("dental_dbt_facts-eeeeeee-0000000", age_s=ABANDONED_RUN_FOLDER_SECONDS + 60, finished=False)
    others = [tmp_path / "compiled", tmp_path / "partial_parse.msgpack", tmp_path / "not-a-run"]
    others[0].mkdir()
    others[1].write_bytes(b"x")
    others[2].mkdir()
    os.utime(others[2], (now - 10 * ABANDONED_RUN_FOLDER_SECONDS,) * 2)

    removed = prune_run_targets(tmp_path, keep=3, now=now)

    assert sorted(removed) == sorted([killed, *finished[:5]])
    assert all(path.exists() for path in [*finished[5:], running, *others])
    assert not any(path.exists() for path in removed)
    assert prune_run_targets(tmp_path, keep=3, now=now) == []
    assert prune_run_targets(tmp_path / "absent", keep=3, now=now) == []


def test_a_manifest_older_than_a_model_test_or_macro_is_stale(tmp_path):
    """The code location parses again when a project file changed after the manifest was written (an
    edited model would otherwise meet a manifest that does not know its new tests)."""
    from dental_assets.defs.dbt.assets import manifest_is_stale

    manifest = tmp_path / "target" / "manifest.json"
    assert manifest_is_stale(tmp_path, manifest)  # none yet
    for name in ("models/staging/stg_a.sql", "models/staging/_a.yml", "macros/m.sql", "dbt_project.yml"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("-- x\n")
        os.utime(path, (1_000, 1_000))
    manifest.parent.mkdir()
    manifest.write_text("{}")
    os.utime(manifest, (2_000, 2_000))
    assert not manifest_is_stale(tmp_path, manifest)
    (tmp_path / "target" / "run").mkdir()  # dbt's own output is not a source
    os.utime(tmp_path / "target" / "run", (3_000, 3_000))
    assert not manifest_is_stale(tmp_path, manifest)
    for name in ("models/staging/_a.yml", "macros/m.sql", "dbt_project.yml"):
        os.utime(tmp_path / name, (2_001, 2_001))
        assert manifest_is_stale(tmp_path, manifest), name
        os.utime(tmp_path / name, (1_000, 1_000))
    assert not manifest_is_stale(tmp_path, manifest)


def test_loads_at_once_parse_one_at_a_time(tmp_path, monkeypatch):
    """The code location checks and parses its manifest under a lock beside it, and a process that waited
    for it uses the manifest written meanwhile instead of parsing again: two parses at once (two pytest
    workers, or ``dagster dev``'s processes, after a yml edit) tore manifest.json, and a load that found
    it fresh while another parse wrote it read half a file."""
    import json
    import queue
    import threading
    from types import SimpleNamespace

    from filelock import FileLock, Timeout

    from dental_assets.defs.dbt import assets
    from dental_assets.defs.dbt.assets import PARSE_LOCK_FILE, ensure_manifest

    monkeypatch.delenv("DAGSTER_IS_DEV_CLI", raising=False)
    model = tmp_path / "models" / "m.sql"
    model.parent.mkdir()
    model.write_text("select 1 as x\n")
    os.utime(model, (1_000, 1_000))
    manifest = tmp_path / "target" / "manifest.json"  # none yet: stale
    manifest.parent.mkdir()
    # (no dbt_project.yml: a parse of its own would fail)
    project = SimpleNamespace(project_dir=tmp_path, profiles_dir=tmp_path, manifest_path=manifest)
    steps = queue.Queue()  # what the loader did, in order

    class WatchedLock(FileLock):
        """The loader's lock: says when the loader reached it and found it held (it then waits)."""

        def acquire(self, *args, **kwargs):
            try:
                return super().acquire(timeout=0)
            except Timeout:
                steps.put("waiting for the lock")
            return super().acquire(*args, **kwargs)

    monkeypatch.setattr(assets, "FileLock", WatchedLock)

    def load() -> threading.Thread:
        def run():
            try:
                steps.put(ensure_manifest(project))
            except BaseException as error:  # handed to the test
                steps.put(error)

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    with FileLock(manifest.with_name(PARSE_LOCK_FILE)):  # another process is parsing
        loader = load()
        # the loader reached the lock, found it held, and is in its blocking wait: it cannot finish now
        assert steps.get(timeout=60) == "waiting for the lock"
        manifest.write_text('{"parsed_by": "the other process"}')
        assert steps.empty() and loader.is_alive()
    assert steps.get(timeout=60) == manifest  # released: it uses the manifest written meanwhile
    loader.join()
    assert json.loads(manifest.read_text()) == {"parsed_by": "the other process"}
    # a fresh manifest is not read while a parse may be writing it
    with FileLock(manifest.with_name(PARSE_LOCK_FILE)):
        loader = load()
        assert steps.get(timeout=60) == "waiting for the lock"
        assert steps.empty() and loader.is_alive()
    assert steps.get(timeout=60) == manifest
    loader.join()
    assert steps.empty()


def test_saved_parses_are_kept_per_connection(tmp_path, monkeypatch):
    """A run starts from the latest parse made on its own warehouse (dbt keeps a parse only for the
    connection it was made on), else from the latest run's; the newest PARSE_CACHES_KEEP are kept."""
    from dental_assets.defs.dbt.assets import (PARSE_CACHES_KEEP, keep_partial_parse, partial_parse_cache,
                                               seed_partial_parse)

    monkeypatch.setenv("DENTAL_HOME", str(tmp_path / "home"))
    a = {"DENTAL_PG_HOST": "127.0.0.1", "DENTAL_PG_PORT": "5432", "DENTAL_PG_USER": "u", "DENTAL_PG_DBNAME": "a",
         "DENTAL_PG_PASSWORD": "secret"}
    b = {**a, "DENTAL_PG_DBNAME": "b"}
    assert partial_parse_cache(a) != partial_parse_cache(b)
    assert partial_parse_cache(a) == partial_parse_cache({**a, "DENTAL_PG_PASSWORD": "other"})
    assert "secret" not in partial_parse_cache(a).name

    def run(connection, parse: bytes) -> Path:
        """A run on ``connection`` that started from what seed_partial_parse gave it and saved ``parse``."""
        target = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
        seed_partial_parse(target, connection)
        started_from = (target / PARTIAL_PARSE_FILE).read_bytes() if (target / PARTIAL_PARSE_FILE).exists() else None
        target.mkdir(exist_ok=True)
        (target / PARTIAL_PARSE_FILE).write_bytes(parse)
        keep_partial_parse(target, connection)
        return started_from

    assert run(a, b"parse of a") is None
    assert run(b, b"parse of b") == b"parse of a"  # a new warehouse: the latest run's
    assert run(a, b"parse of a, 2") == b"parse of a"  # its own, although b's run came in between
    assert run(b, b"parse of b, 2") == b"parse of b"
    assert partial_parse_cache().read_bytes() == b"parse of b, 2"

    for n in range(PARSE_CACHES_KEEP + 3):
        run({**a, "DENTAL_PG_DBNAME": f"db{n}"}, b"x")
    assert len(list(partial_parse_cache().parent.glob("partial_parse-*.msgpack"))) == PARSE_CACHES_KEEP
