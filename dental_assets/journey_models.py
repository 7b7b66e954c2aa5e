"""Baseline classifiers on the treatment-journey dataset and the appointments (no Dagster here).

Each model is a scikit-learn pipeline: median-imputed, standardized numeric features and one-hot
categorical features (rare categories pooled), into a logistic regression. It is trained on every year
before the latest one in the data and evaluated on the latest year, which it has not seen. The report
holds, on that year:

- ``roc_auc`` and ``pr_auc`` (average precision);
- ``brier`` and a 10-bin calibration table: mean predicted probability vs observed rate per bin;
- ``accuracy`` next to ``baseline_accuracy``, the accuracy of always predicting the majority class of
  the training years;
- ``prevalence`` (share of positives);
- permutation ``feature_importance``: the drop in ROC AUC when a feature is shuffled, top 10.

Artifacts are versioned: ``<root>/<model name>/<UTC timestamp>/model.joblib`` and ``report.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow.fs as pafs
import pyarrow.parquet as pq

# scikit-learn and joblib are imported where a model is trained or saved, not with this module: every
# process that loads the Dagster definitions imports this one, and scikit-learn (with SciPy) alone takes
# about a second to import (bench/import_time.py).
if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

LOG = logging.getLogger(__name__)

JOURNEY_TARGETS = ("target_accepted", "target_fully_paid", "target_paid_30d", "target_insurance_accurate")
JOURNEY_NUMERIC = (
    "patient_age_years", "coverage_count", "proc_fee", "unit_qty", "base_units", "procedure_charge",
    "standard_fee", "fee_ratio", "insurance_estimate", "carrier_median_days_to_payment",
    "carrier_estimate_accuracy", "prior_visit_count", "prior_broken_count", "days_since_last_visit",
    "days_since_first_visit", "family_size", "has_insurance", "is_multi_visit", "has_tooth", "has_surface",
)
JOURNEY_CATEGORICAL = ("gender", "procedure_code", "code_category", "treat_area_code")
NO_SHOW_NUMERIC = (
    "hour_of_day", "is_hygiene", "is_new_patient", "scheduled_minutes", "prior_completed_count",
    "prior_broken_count", "days_since_last_visit", "patient_age_years",
)
NO_SHOW_CATEGORICAL = ("iso_day_of_week",)


# The fewest rows of each class (true, false) the training years and the evaluation year must each
# hold for a model to be trained and evaluated. Below it, ROC AUC and PR AUC on the held-out year are
# noise (a handful of positives decide them), so the target is reported as "not enough data" instead.
MIN_CLASS_ROWS = 20
CALIBRATION_BINS = 10  # quantile bins of the evaluation year's predicted probability (ModelReport.calibration)
IMPORTANCE_SAMPLE_ROWS = 3000  # evaluation rows (at most) whose features are shuffled for permutation importance
IMPORTANCE_REPEATS = 3  # shuffles of each feature
TOP_FEATURES = 10  # features kept in ModelReport.feature_importance, the largest ROC AUC drops first


class NotEnoughDataError(ValueError):
    """The data cannot train and evaluate a model: fewer than two years, or fewer than
    ``MIN_CLASS_ROWS`` rows of either class in the training years or in the evaluation year."""


@dataclass
class ModelReport:
    """Evaluation of one model on the held-out latest year (rows, shares 0-1, AUCs 0-1)."""

    model: str
    target: str
    train_years: list[int]
    eval_year: int
    train_rows: int
    eval_rows: int
    prevalence: float
    roc_auc: float
    pr_auc: float
    brier: float
    accuracy: float
    baseline_accuracy: float
    calibration: list[tuple[float, float]] = field(default_factory=list)
    feature_importance: list[tuple[str, float]] = field(default_factory=list)

    @property
    def beats_baseline(self) -> bool:
        """Better ranking than chance and better precision-recall than the prevalence alone."""
        return self.roc_auc > 0.5 and self.pr_auc > self.prevalence


def version_stamp(path: Path) -> str:
    """The UTC timestamp a dataset file's name ends with (``treatment_journey_<source>_<stamp>.parquet``):
    versions sort by it, not by name, whose source part would order ``opendental`` before ``synthetic``."""
    return path.name.removesuffix(".parquet").rsplit("_", 1)[-1]


def version_source(path: Path) -> str:
    """The source name in a dataset file's name (``synthetic``, ``opendental``)."""
    return path.name.removesuffix(".parquet").removeprefix("treatment_journey_").rsplit("_", 1)[0]


# The key of a dataset file's statistics (``<file>.stats.json``) that holds the outcome of the data-quality
# rules when it was written (the treatment_journey asset's ``write_journey_checked``): {"passed": bool, counts}.
DATA_QUALITY_STATS_KEY = "data_quality"


def passed_data_quality(path: Path) -> bool:
    """Whether the statistics beside a dataset file record that it passed the data-quality rules
    (``<file>.stats.json`` holding ``"data_quality": {"passed": true, ...}``). A file without statistics, with
    unreadable ones, or written before the outcome was recorded did not: it is not read."""
    try:
        stats = json.loads(path.with_suffix(".stats.json").read_text())
    except (OSError, ValueError):
        return False
    record = stats.get(DATA_QUALITY_STATS_KEY) if isinstance(stats, dict) else None
    return isinstance(record, dict) and record.get("passed") is True


def latest_versions(dataset_dir: Path, source: str | None = None,
                    skipped: list[Path] | None = None) -> dict[str, Path]:
    """The newest Parquet file (by ``version_stamp``) that passed the data-quality rules
    (``passed_data_quality``) of each partition folder under ``dataset_dir``, of ``source`` only when
    given: {folder name: path}. Only the folder's own files are read, never a subfolder (a failing version
    is written to ``<year>/quarantine/``). The versions newer than the one chosen (or than none) that
    had not passed are appended to ``skipped`` when given."""
    latest = {}
    for folder in sorted(p for p in dataset_dir.iterdir() if p.is_dir()) if dataset_dir.exists() else []:
        files = sorted((f for f in folder.glob("treatment_journey_*.parquet") if source in (None, version_source(f))),
                       key=version_stamp, reverse=True)
        for file in files:
            if passed_data_quality(file):
                latest[folder.name] = file
                break
            if skipped is not None:
                skipped.append(file)
    return latest


def load_dataset(dataset_dir: Path, log: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Every partition's newest passing version (``latest_versions``) of the source written last (the
    newest file's, passing or not), concatenated: a practice that moved from the demo to its own database
    trains on its own years only, never on the demo's left beside them. A version newer than the one read
    that has no passing data-quality record is skipped with a line to ``log`` (default: this module's
    logger, warning) naming the file. Raises NotEnoughDataError when there is none."""
    log = log or LOG.warning
    every = [f for folder in (dataset_dir.iterdir() if dataset_dir.exists() else []) if folder.is_dir()
             for f in folder.glob("treatment_journey_*.parquet")]
    if not every:
        raise NotEnoughDataError(f"no dataset file under {dataset_dir}")
    source = version_source(max(every, key=version_stamp))
    skipped: list[Path] = []
    chosen = latest_versions(dataset_dir, source, skipped)
    for path in skipped:
        log(f"journey dataset: skipped {path}: its statistics ({path.with_suffix('.stats.json').name}) record no "
            "passing data-quality check")
    if not chosen:
        raise NotEnoughDataError(f"no dataset file that passed its data-quality check under {dataset_dir}")
    local = pafs.LocalFileSystem()  # paths, never parsed as URIs (a folder named C: is a folder)
    frames = [pq.read_table(path, filesystem=local).to_pandas() for path in chosen.values()]
    frames = [f for f in frames if len(f)]
    if not frames:
        raise NotEnoughDataError(f"no rows in any partition under {dataset_dir}")
    return pd.concat(frames, ignore_index=True)


def _pipeline(numeric: list[str], categorical: list[str], seed: int) -> Pipeline:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric_steps = Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                              ("scale", StandardScaler())])
    categorical_steps = Pipeline([
        ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
        ("onehot", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20)),
    ])
    return Pipeline([
        ("features", ColumnTransformer([("numeric", numeric_steps, numeric),
                                        ("categorical", categorical_steps, categorical)])),
        ("classifier", LogisticRegression(max_iter=2000, random_state=seed)),
    ])


def train_and_evaluate(
    data: pd.DataFrame,
    target: str,
    year_column: str,
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
    model_name: str,
    seed: int = 0,
) -> tuple[Pipeline, ModelReport]:
    """Train on the years before the latest, evaluate on the latest. Rows with a NULL target are left
    out. Raises NotEnoughDataError with fewer than two years or a single class on either side."""
    years, train, test = _split_by_year(data, target, year_column)
    y_train = train[target].astype(bool).to_numpy()
    y_test = test[target].astype(bool).to_numpy()
    _require_both_classes(target, y_train, y_test)
    numeric_cols = [c for c in numeric if c in data.columns]
    categorical_cols = [c for c in categorical if c in data.columns]
    x_train = _features(train, numeric_cols, categorical_cols)
    x_test = _features(test, numeric_cols, categorical_cols)
    pipeline = _pipeline(numeric_cols, categorical_cols, seed).fit(x_train, y_train)
    report = _evaluate(pipeline, x_test, y_test, y_train, model_name, target, years, len(train), seed)
    return pipeline, report


def _split_by_year(data: pd.DataFrame, target: str, year_column: str
                   ) -> tuple[list[int], pd.DataFrame, pd.DataFrame]:
    """(the years present, training rows: the years before the latest, evaluation rows: the latest),
    rows with a NULL target or year left out. Raises NotEnoughDataError with fewer than two years."""
    rows = data[data[target].notna() & data[year_column].notna()].copy()
    years = sorted(int(y) for y in rows[year_column].unique())
    if len(years) < 2:
        raise NotEnoughDataError(f"{target}: needs two years of data, has {years}")
    return years, rows[rows[year_column] < years[-1]], rows[rows[year_column] == years[-1]]


def _require_both_classes(target: str, y_train: np.ndarray, y_test: np.ndarray) -> None:
    """Raises NotEnoughDataError when either side has fewer than ``MIN_CLASS_ROWS`` rows of a class."""
    counts = {"train": (int(y_train.sum()), int((~y_train).sum())),
              "evaluation": (int(y_test.sum()), int((~y_test).sum()))}
    short = {side: c for side, c in counts.items() if min(c) < MIN_CLASS_ROWS}
    if short:
        raise NotEnoughDataError(
            f"{target}: fewer than {MIN_CLASS_ROWS} rows of a class (true, false): "
            + ", ".join(f"{side} {c[0]}, {c[1]}" for side, c in short.items())
        )


def _features(frame: pd.DataFrame, numeric_cols: list[str], categorical_cols: list[str]) -> pd.DataFrame:
    """The model's input columns: numeric ones as floats (unparsable: NaN), categorical ones as text
    (NULL: "missing")."""
    out = frame[numeric_cols + categorical_cols].copy()
    for column in numeric_cols:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    for column in categorical_cols:
        out[column] = out[column].astype("string").fillna("missing").astype(object)
    return out


def _evaluate(pipeline: Pipeline, x_test: pd.DataFrame, y_test: np.ndarray, y_train: np.ndarray,
              model_name: str, target: str, years: list[int], train_rows: int, seed: int) -> ModelReport:
    """The evaluation year's scores (ROC AUC, PR AUC, Brier, accuracy against the training majority),
    calibration by ``CALIBRATION_BINS`` quantile bins and the ``TOP_FEATURES`` largest permutation
    importances (ROC AUC drop, ``IMPORTANCE_REPEATS`` shuffles of at most ``IMPORTANCE_SAMPLE_ROWS`` rows)."""
    from sklearn.calibration import calibration_curve
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    probability = pipeline.predict_proba(x_test)[:, 1]
    majority = bool(y_train.mean() >= 0.5)
    observed, predicted = calibration_curve(y_test, probability, n_bins=CALIBRATION_BINS, strategy="quantile")
    sample = x_test.sample(n=min(len(x_test), IMPORTANCE_SAMPLE_ROWS), random_state=seed)
    importance = permutation_importance(
        pipeline, sample, y_test[x_test.index.get_indexer(sample.index)], scoring="roc_auc",
        n_repeats=IMPORTANCE_REPEATS, random_state=seed,
    )
    ranked = sorted(zip(sample.columns, importance.importances_mean), key=lambda kv: -kv[1])[:TOP_FEATURES]
    return ModelReport(
        model=model_name,
        target=target,
        train_years=years[:-1],
        eval_year=years[-1],
        train_rows=train_rows,
        eval_rows=len(x_test),
        prevalence=float(y_test.mean()),
        roc_auc=float(roc_auc_score(y_test, probability)),
        pr_auc=float(average_precision_score(y_test, probability)),
        brier=float(brier_score_loss(y_test, probability)),
        accuracy=float(((probability >= 0.5) == y_test).mean()),
        baseline_accuracy=float((y_test == majority).mean()),
        calibration=[(round(float(p), 4), round(float(o), 4)) for p, o in zip(predicted, observed)],
        feature_importance=[(name, round(float(value), 5)) for name, value in ranked],
    )


def save_artifacts(root: Path, name: str, pipeline: Pipeline, report: ModelReport, keep: int = 5) -> Path:
    """Write ``<root>/<name>/<timestamp>/model.joblib`` and ``report.json``; keep the newest ``keep``
    versions. Returns the version folder."""
    import joblib

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    folder = root / name / stamp
    folder.mkdir(parents=True, exist_ok=False)
    joblib.dump(pipeline, folder / "model.joblib")
    (folder / "report.json").write_text(json.dumps(asdict(report), indent=2))
    versions = sorted(p for p in (root / name).iterdir() if p.is_dir())
    for old in versions[: max(len(versions) - keep, 0)]:
        for path in old.iterdir():
            path.unlink()
        old.rmdir()
    return folder


def report_markdown(reports: list[ModelReport]) -> str:
    """A table of the reports for Dagster metadata."""
    lines = ["| model | target | eval year | rows | prevalence | ROC AUC | PR AUC | Brier | accuracy | majority |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in reports:
        lines.append(f"| {r.model} | {r.target} | {r.eval_year} | {r.eval_rows} | {r.prevalence:.3f} | "
                     f"{r.roc_auc:.3f} | {r.pr_auc:.3f} | {r.brier:.3f} | {r.accuracy:.3f} | "
                     f"{r.baseline_accuracy:.3f} |")
    return "\n".join(lines)


