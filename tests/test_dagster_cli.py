"""Dagster's own commands work from the repository root of a fresh clone with nothing set, and the
project's dagster.yaml picks its storage from the environment (dental_assets/instance.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# what a newcomer's shell does not have: no instance, no PostgreSQL, no project settings
UNSET = ("DAGSTER_HOME", "DAGSTER_POSTGRES_URL", "DENTAL_HOME", "DENTAL_WAREHOUSE_URL", "DENTAL_SOURCE",
         "OPENDENTAL_URL", "DENTAL_DATA_DIR", "DAGSTER_IS_DEV_CLI")


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a fresh shell with the virtualenv activated. DENTAL_HOME is the one variable
    set, so the instance the commands use (the demo's, $DENTAL_HOME/dagster_home) is a temporary
    folder rather than the checkout's .dental."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(BIN.parent)
    env["DENTAL_HOME"] = str(tmp_path / "home")
    return env


@pytest.mark.parametrize("command", [
    ["dagster", "definitions", "validate", "-m", "dental_assets.definitions"],
    ["dg", "check", "defs"],
], ids=["dagster-definitions-validate", "dg-check-defs"])
def test_dagster_commands_work_from_the_repository_root(tmp_path, command):
    env = _clean_env(tmp_path)
    proc = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "DAGSTER_POSTGRES_URL" not in output
    # the instance they loaded is the demo's SQLite instance in $DENTAL_HOME/dagster_home
    assert (tmp_path / "home" / "dagster_home" / "history").is_dir(), output[-2000:]


def _instance_from_project_yaml(home: Path) -> dg.DagsterInstance:
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    return dg.DagsterInstance.from_config(str(home))


def test_project_instance_is_sqlite_in_dagster_home_without_postgres_url(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_POSTGRES_URL", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    with _instance_from_project_yaml(tmp_path / "dagster_home") as instance:
        from dagster._core.storage.runs import SqliteRunStorage

        assert isinstance(instance.run_storage, SqliteRunStorage)  # Dagster's, waiting longer for a lock
        assert instance.get_runs() == []
    assert (tmp_path / "dagster_home" / "history" / "runs.db").is_file()


def test_project_instance_is_postgres_with_postgres_url(tmp_path, monkeypatch, pg_url):
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", pg_url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    with _instance_from_project_yaml(tmp_path / "dagster_home") as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert instance.get_runs() == []
    assert not (tmp_path / "dagster_home" / "history").exists()


def test_dental_ui_gives_the_daemon_time_for_a_long_backstop_tick(tmp_path, monkeypatch):
    """`dental ui`'s Dagster processes wait 600 s for a schedule's tick and 300 s for a sensor's, as
    Dagster's own gRPC client reads them (its default: 60 s, which the raw backstop's content comparison
    passes somewhere between 60,000 and 80,000 patients); a value the operator set is kept."""
    from dental_assets.cli import prepare_environment

    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DENTAL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DAGSTER_SCHEDULE_GRPC_TIMEOUT_SECONDS", raising=False)
    monkeypatch.setenv("DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS", "120")
    env = prepare_environment()
    read = subprocess.run(
        [sys.executable, "-c", "from dagster._grpc.client import DEFAULT_SCHEDULE_GRPC_TIMEOUT as s, "
                               "DEFAULT_SENSOR_GRPC_TIMEOUT as n; print(s, n)"],
        env=env, capture_output=True, text=True, timeout=120, check=True)
    assert read.stdout.split() == ["600", "120"]
