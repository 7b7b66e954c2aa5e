"""`dbt docs generate` works on the project, and what it publishes is complete: every model described
with its columns, and the two dashboards declared as exposures on the marts they read."""

import json

from dbt_runner import run_dbt
from dental_assets.warehouse import PgParams


def test_dbt_docs_generate_describes_every_model_and_both_dashboards(pg_url, tmp_path):
    run_dbt(PgParams.from_url(pg_url), tmp_path, "docs", "generate", artifacts=True)
    assert (tmp_path / "index.html").stat().st_size > 0
    assert json.loads((tmp_path / "catalog.json").read_text())["metadata"]["dbt_schema_version"]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    assert len(models) > 80
    assert [m["name"] for m in models if not m["description"].strip()] == []
    assert [m["name"] for m in models if not m["columns"]] == []
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert set(exposures) == {"production_dashboard", "ar_dashboard"}
    for exposure in exposures.values():
        assert exposure["type"] == "dashboard" and exposure["owner"]
        read = exposure["depends_on"]["nodes"]
        assert read and all(node.startswith("model.dental_dbt.mart_") or node.startswith("model.dental_dbt.dim_")
                            for node in read)
