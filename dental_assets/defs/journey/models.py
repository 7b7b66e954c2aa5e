"""The models trained on the treatment-journey dataset and on appointments (see
``dental_assets.journey_models`` for the method and the report).

- ``treatment_journey_models``: one classifier per journey target, trained on the dataset's earlier
  year partitions (their newest Parquet versions that passed the data-quality check: a failing version is
  quarantined by ``treatment_journey``, and one without a passing record is skipped with a warning) and
  evaluated on the latest;
- ``no_show_model``: a classifier of broken appointments, trained on ``fct_appointment_outcomes``.

Artifacts go to ``$DENTAL_DATA_DIR/models/<model>/<UTC timestamp>/`` (the newest ``DENTAL_MODEL_KEEP``,
default 5, kept). Each asset reports a check, ``beats_majority_baseline``: on the held-out year, every
model ranks better than chance (ROC AUC > 0.5) and beats the prevalence in PR AUC. A target without
``journey_models.MIN_CLASS_ROWS`` rows of each class in the training years and in the held-out year is
not trained; when no model can be, the check's outcome is "not enough data" (not passed, WARN).
"""


import dagster as dg
import pandas as pd
from dagster_dbt import get_asset_key_for_model

from dental_assets import journey_models as jm
from dental_assets import settings
from dental_assets.defs.dbt.assets import dental_dbt_models, relation_for_model
from dental_assets.defs.journey.assets import JOURNEY_GROUP, data_dir, treatment_journey
from dental_assets.defs.resources import WarehouseResource

NO_SHOW_MODEL = "fct_appointment_outcomes"


def models_dir():
    return data_dir() / "models"


def _metadata(reports: list[jm.ModelReport], skipped: dict[str, str], folders: dict) -> dict:
    metadata = {
        "evaluation": dg.MetadataValue.md(jm.report_markdown(reports)),
        "models_trained": dg.MetadataValue.int(len(reports)),
        "artifacts": dg.MetadataValue.json({k: str(v) for k, v in folders.items()}),
    }
    for report in reports:
        metadata[f"{report.target}/roc_auc"] = dg.MetadataValue.float(round(report.roc_auc, 4))
        metadata[f"{report.target}/pr_auc"] = dg.MetadataValue.float(round(report.pr_auc, 4))
        metadata[f"{report.target}/top_features"] = dg.MetadataValue.json(report.feature_importance[:5])
        metadata[f"{report.target}/calibration"] = dg.MetadataValue.json(report.calibration)
    if skipped:
        metadata["skipped"] = dg.MetadataValue.json(skipped)
    return metadata


CHECK_NAME = "beats_majority_baseline"


def _check(reports: list[jm.ModelReport], skipped: dict[str, str]) -> dg.AssetCheckResult:
    """The check over the models that had enough data to be evaluated (``jm.MIN_CLASS_ROWS`` of each
    class in the training years and in the held-out year).

    - Some evaluated: passes when every one ranks the held-out year better than chance (ROC AUC > 0.5)
      and beats the majority baseline's precision-recall (PR AUC > prevalence); ``outcome`` is
      ``evaluated``, and targets without enough data are listed under ``not_enough_data`` (they count
      neither way).
    - None evaluated: ``outcome`` is ``not enough data``. The check does not pass (nothing was shown)
      and reports it with WARN severity, so a practice too small to judge is told so rather than
      shown a failed model or a green check."""
    if not reports:
        return dg.AssetCheckResult(
            check_name=CHECK_NAME,
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"not enough data: no model had {jm.MIN_CLASS_ROWS} rows of each class to evaluate",
            metadata={"outcome": "not enough data",
                      "not_enough_data": dg.MetadataValue.json(skipped)},
        )
    failing = [r.target for r in reports if not r.beats_baseline]
    return dg.AssetCheckResult(
        check_name=CHECK_NAME,
        passed=not failing,
        metadata={"outcome": "evaluated",
                  "failing_targets": dg.MetadataValue.json(failing),
                  "not_enough_data": dg.MetadataValue.json(sorted(skipped)),
                  "roc_auc": dg.MetadataValue.json({r.target: round(r.roc_auc, 4) for r in reports})},
    )


@dg.asset(
    deps=[treatment_journey],
    group_name=JOURNEY_GROUP,
    kinds={"scikitlearn", "python"},
    description="One baseline classifier per journey target: trained on earlier years, evaluated on the latest.",
    check_specs=[dg.AssetCheckSpec(CHECK_NAME, asset="treatment_journey_models")],
)
def treatment_journey_models(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    reports, skipped, folders = [], {}, {}
    try:
        data = jm.load_dataset(data_dir() / "processed" / "treatment_journey", log=context.log.warning)
    except jm.NotEnoughDataError as exc:
        context.log.warning(f"no journey model trained: {exc}")
        skipped = {target: str(exc) for target in jm.JOURNEY_TARGETS}
        return dg.MaterializeResult(metadata=_metadata([], skipped, {}), check_results=[_check([], skipped)])
    for target in jm.JOURNEY_TARGETS:
        try:
            pipeline, report = jm.train_and_evaluate(
                data, target, "procedure_year", jm.JOURNEY_NUMERIC, jm.JOURNEY_CATEGORICAL,
                "treatment_journey",
            )
        except jm.NotEnoughDataError as exc:
            skipped[target] = str(exc)
            context.log.warning(f"{target} not trained: {exc}")
            continue
        folders[target] = jm.save_artifacts(models_dir(), f"treatment_journey_{target}", pipeline, report,
                                            keep=settings.keep("DENTAL_MODEL_KEEP"))
        reports.append(report)
        context.log.info(f"{target}: ROC AUC {report.roc_auc:.3f}, PR AUC {report.pr_auc:.3f} "
                         f"(prevalence {report.prevalence:.3f}) on {report.eval_year}")
    return dg.MaterializeResult(metadata=_metadata(reports, skipped, folders),
                                check_results=[_check(reports, skipped)])


@dg.asset(
    deps=[get_asset_key_for_model([dental_dbt_models], NO_SHOW_MODEL)],
    group_name=JOURNEY_GROUP,
    kinds={"scikitlearn", "python"},
    description="A baseline classifier of broken appointments (no-shows), from fct_appointment_outcomes.",
    check_specs=[dg.AssetCheckSpec(CHECK_NAME, asset="no_show_model")],
)
def no_show_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    conn = warehouse.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {relation_for_model(NO_SHOW_MODEL)}")
            data = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
    finally:
        conn.close()
    try:
        pipeline, report = jm.train_and_evaluate(
            data, "target_no_show", "appointment_year", jm.NO_SHOW_NUMERIC, jm.NO_SHOW_CATEGORICAL, "no_show"
        )
    except jm.NotEnoughDataError as exc:
        context.log.warning(f"no-show model not trained: {exc}")
        skipped = {"target_no_show": str(exc)}
        return dg.MaterializeResult(metadata=_metadata([], skipped, {}), check_results=[_check([], skipped)])
    folder = jm.save_artifacts(models_dir(), "no_show", pipeline, report,
                               keep=settings.keep("DENTAL_MODEL_KEEP"))
    context.log.info(f"no-show: ROC AUC {report.roc_auc:.3f}, PR AUC {report.pr_auc:.3f} "
                     f"(prevalence {report.prevalence:.3f}) on {report.eval_year}")
    return dg.MaterializeResult(metadata=_metadata([report], {}, {"target_no_show": folder}),
                                check_results=[_check([report], {})])


