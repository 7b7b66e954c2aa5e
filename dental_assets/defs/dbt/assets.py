"""The dbt layer: every model of ``dental_dbt/`` is an asset, every dbt test an asset check.

dbt sources ``source('opendental', '<table>')`` map to the raw asset keys ``["opendental", "<table>"]``
(dagster-dbt's default key for a source), so lineage from raw to marts needs no code. Model keys are
dagster-dbt's default for a model with a custom schema: ``[schema, model]``, e.g.
``["marts", "mart_production_daily"]``. dbt connects to the same warehouse as the rest of the graph:
the ``warehouse`` resource exports its connection as ``DENTAL_PG_*`` variables, which
``dental_dbt/profiles.yml`` reads.

The manifest (``dental_dbt/target/manifest.json``) is produced by ``dbt parse``: by the set-up script
(``./dev``), here when it is missing, and on every load under ``dagster dev``.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from dental_assets.defs.resources import WarehouseResource

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dental_dbt"


def dbt_executable() -> str:
    """The ``dbt`` beside this Python (a venv's bin need not be on PATH), else ``dbt`` from PATH."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def ensure_manifest(project: DbtProject) -> Path:
    """Run ``dbt parse`` when the manifest is missing (and on every load under ``dagster dev``);
    returns the manifest's path. Raises RuntimeError with dbt's output when parsing fails."""
    if project.manifest_path.exists() and not os.environ.get("DAGSTER_IS_DEV_CLI"):
        return project.manifest_path
    result = subprocess.run(
        [dbt_executable(), "parse", "--quiet", "--project-dir", str(project.project_dir),
         "--profiles-dir", str(project.profiles_dir)],
        capture_output=True, text=True, cwd=project.project_dir,
    )
    if result.returncode != 0 or not project.manifest_path.exists():
        raise RuntimeError(f"dbt parse failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return project.manifest_path


dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
ensure_manifest(dbt_project)


class DentalDbtTranslator(DagsterDbtTranslator):
    """Groups models by their layer folder (staging, intermediate, marts)."""

    def get_group_name(self, dbt_resource_props) -> str | None:
        if dbt_resource_props["resource_type"] == "model":
            fqn = dbt_resource_props.get("fqn", [])
            if len(fqn) > 2:
                return f"dbt_{fqn[1]}"
            return "dbt"
        return super().get_group_name(dbt_resource_props)


translator = DentalDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=translator,
    name="dental_dbt_models",
)
def dental_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
):
    """``dbt build`` of the selected models (their tests run as asset checks)."""
    with warehouse.dbt_environment():
        yield from dbt.cli(["build"], context=context).stream()


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())


def relation_for_model(model_name: str) -> str:
    """``"schema"."alias"`` of a dbt model, from the manifest. Raises KeyError for an unknown model."""
    nodes = json.loads(dbt_project.manifest_path.read_text())["nodes"]
    for node in nodes.values():
        if node["resource_type"] == "model" and node["name"] == model_name:
            return f'"{node["schema"]}"."{node["alias"]}"'
    raise KeyError(f"no dbt model named {model_name}")
