"""The Dagster UI in a real browser, on the instance of a small demo.

The module runs ``demo_job`` once (300 synthetic patients as of today, ``dagster job execute``) as
``./dev demo`` does: into the embedded default warehouse, with a SQLite instance made from
``dagster.demo.yaml``. It then checks, as the operators would see it:

- every dbt test ran as an asset check and passed, and every asset is fresh (freshness evaluated with
  Dagster's own evaluators, ``dental_assets.defs.automation.freshness``);
- the demo's outputs (tests/test_demo.py's ``assert_demo_outputs``), and that the embedded server was
  stopped at the end. The demo on a PostgreSQL server warehouse is CI's ``demo_job`` step (.ci/run,
  5,000 patients, PostgreSQL instance storage); one demo here serves both the outputs and the UI;
- ``dagster-webserver`` on loopback, driven by Debian's headless Chromium (``/usr/bin/chromium``) via
  Playwright, shows the raw, dbt and journey groups in the global lineage, the upstream lineage of a
  mart down to its raw table, the mart's passing checks, and the summary tables in the
  materialization metadata of the marts and the journey dataset; the landing page (Overview
  timeline) shows the demo's runs, and a dbt asset's Columns table shows the columns' types.

Screenshots go to a temporary folder, so the test leaves the checkout as it was; with
``DENTAL_SCREENSHOTS_DIR`` set they go there instead: ``./dev screenshots`` sets it to
``docs/screenshots/`` (shown in docs/operations.md and the README) to refresh them.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from conftest import stable_dental_home

REPO_ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS_ENV = "DENTAL_SCREENSHOTS_DIR"  # where the screenshots go (default: a temporary folder)
BIN = Path(sys.executable).parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
PATIENTS = "300"
PARTITION_START = "2023-01"
VIEWPORT = {"width": 1600, "height": 1000}

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory):
    """The environment of a finished small demo on the embedded warehouse (in DENTAL_HOME): DAGSTER_HOME
    (SQLite instance), DENTAL_HOME, DENTAL_DATA_DIR. DENTAL_HOME is at the same path in every session
    (``stable_dental_home``), so the demo's dbt starts from the parse of the last session's demo."""
    with stable_dental_home("demo") as home:
        yield from _run_demo(tmp_path_factory.mktemp("ui"), home)


def _run_demo(root: Path, home: Path):
    env = {
        **{k: v for k, v in os.environ.items() if k != "DENTAL_WAREHOUSE_URL"},  # the embedded default
        "DAGSTER_HOME": str(root / "dagster_home"),
        "DENTAL_HOME": str(home),
        "DENTAL_DATA_DIR": str(root / "data"),
        "DENTAL_SYNTHETIC_PATIENTS": PATIENTS,
        # fewer monthly partitions (the first one holds every earlier date): a faster demo
        "DENTAL_PARTITION_START": PARTITION_START,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    Path(env["DAGSTER_HOME"]).mkdir()
    # the instance `./dev demo` makes: dagster.demo.yaml (DentalInstance, its SQLite storage in this folder)
    shutil.copyfile(REPO_ROOT / "dagster.demo.yaml", Path(env["DAGSTER_HOME"]) / "dagster.yaml")
    proc = subprocess.run(
        [str(BIN / "dagster"), "job", "execute", "-m", "dental_assets.definitions", "-j", "demo_job"],
        env=env, capture_output=True, text=True, timeout=900, cwd=REPO_ROOT,
    )
    if proc.returncode != 0:
        output = proc.stdout + proc.stderr
        first = output.find("STEP_FAILURE")
        pytest.fail(f"demo_job failed:\n{output[max(first - 200, 0):first + 3000]}", pytrace=False)
    yield env


@pytest.fixture(scope="module")
def demo_instance(demo_env):
    instance = dg.DagsterInstance.from_config(demo_env["DAGSTER_HOME"])
    yield instance
    instance.dispose()


# Checks outside this test's scope: statistical checks of the trained models, which a 300-patient
# practice is too small to pass reliably. CI's full demo (.ci/run) asserts every check, these included.
MODEL_CHECKS = {"beats_majority_baseline"}


def test_demo_checks_all_pass_and_every_asset_is_fresh(demo_instance):
    from dagster._core.definitions.freshness import FreshnessState
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

    from dental_assets.definitions import defs
    from dental_assets.defs.automation.freshness import evaluate_freshness

    graph = defs.resolve_asset_graph()
    check_keys = [k for k in graph.asset_check_keys if k.name not in MODEL_CHECKS]
    assert {k.asset_key.path[0] for k in check_keys} >= {"staging", "intermediate", "marts"}
    latest = demo_instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
    assert set(latest) == set(check_keys), "some checks never ran"
    failed = [k.to_user_string() for k, r in latest.items()
              if r.status != AssetCheckExecutionRecordStatus.SUCCEEDED]
    assert not failed, f"checks not passed: {failed}"

    states = evaluate_freshness(demo_instance)
    materializable = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    assert materializable <= set(states)
    stale = {k.to_user_string(): s.value for k, s in states.items()
             if k in materializable and s != FreshnessState.PASS}
    assert not stale, f"assets not fresh: {stale}"


def test_demo_outputs_on_the_embedded_warehouse(demo_env):
    """demo_job on the embedded default warehouse (this module's demo): the server was stopped at the
    end, and test_demo's assertions on its outputs hold."""
    from dental_assets.warehouse import EmbeddedPostgres
    from test_demo import assert_demo_outputs

    server = EmbeddedPostgres(Path(demo_env["DENTAL_HOME"]))
    assert not (server.pgdata / "postmaster.pid").exists(), "the embedded server was not stopped"
    params = server.start()
    try:
        assert_demo_outputs(params, Path(demo_env["DAGSTER_HOME"]).parent)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def webserver(demo_env, demo_instance):
    """``dagster-webserver`` on a free loopback port, on the demo's instance; yields its base URL."""
    port = _free_port()
    log = open(Path(demo_env["DENTAL_HOME"]) / "webserver.log", "w")
    proc = subprocess.Popen(
        [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-m", "dental_assets.definitions"],
        env=demo_env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(base + "/server_info", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail("dagster-webserver did not come up:\n"
                            + (Path(demo_env["DENTAL_HOME"]) / "webserver.log").read_text()[-3000:])
            time.sleep(1)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "/usr/bin/chromium is missing: run ./dev browser (Debian's chromium)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def browser_context(browser, webserver):
    """One browser profile for the module's pages: the UI's first-visit dialog, once skipped, stays
    skipped (the UI remembers it in the profile's local storage), so later pages do not wait for it."""
    context = browser.new_context(viewport=VIEWPORT, base_url=webserver)
    context.dialog_skipped = False
    yield context
    context.close()


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    page.set_default_timeout(60_000)
    yield page
    page.close()


FIRST_VISIT_DIALOG = "Join the Dagster community"


def _dismiss_first_visit_dialog(page) -> None:
    """The UI opens a newsletter dialog on a browser's first visit, a moment after the page loads:
    wait briefly for it and skip it. Once skipped in this browser profile, it is not waited for again
    (``shot`` still asserts that no dialog covers a page)."""
    if page.context.dialog_skipped:
        return
    dialog = page.get_by_text(FIRST_VISIT_DIALOG)
    try:
        dialog.first.wait_for(timeout=5_000)
    except Exception:  # playwright's TimeoutError: the dialog did not come
        return
    page.get_by_role("button", name="Skip").first.click()
    dialog.first.wait_for(state="detached")
    page.context.dialog_skipped = True


def _open(page, path: str, *, expect: str) -> None:
    """Go to ``path``, dismiss the UI's first-visit dialog, wait until ``expect`` is on the page."""
    page.goto(path)
    page.get_by_text(expect, exact=False).first.wait_for()
    page.wait_for_load_state("networkidle")
    _dismiss_first_visit_dialog(page)


def _text_once_shown(page, *texts: str) -> str:
    """The page's text once each of ``texts`` is on it: the UI renders a metadata table after its label
    (``_open``'s ``expect``), later still on a busy machine. A text that never appears (Playwright's
    timeout) fails the test naming it."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    for text in texts:
        try:
            page.get_by_text(text, exact=False).first.wait_for()
        except PlaywrightTimeoutError:
            pytest.fail(f"{text!r} is not on {page.url}", pytrace=False)
    return page.inner_text("body")


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    """The folder the screenshots go to: ``$DENTAL_SCREENSHOTS_DIR`` (``./dev screenshots``: the
    checkout's docs/screenshots), else a temporary folder of this test session."""
    folder = os.environ.get(SCREENSHOTS_ENV)
    path = Path(folder).resolve() if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def shot(page, screenshots):
    """``shot(name)``: a screenshot of the page as ``<screenshots>/<name>.png``."""
    def take(name: str) -> Path:
        assert page.get_by_text(FIRST_VISIT_DIALOG).count() == 0, "a dialog covers the page"
        path = screenshots / f"{name}.png"
        page.screenshot(path=str(path))
        assert path.stat().st_size > 0
        return path
    return take


def test_overview_timeline_shows_the_demo_runs(page, shot):
    # the landing page: the runs the demo launched (asset runs without a job of their own) on the timeline
    _open(page, "/", expect="Jobless asset materializations")
    text = page.inner_text("body")
    assert "No runs or scheduled ticks" not in text
    shot("overview_timeline")


def test_dbt_asset_columns_show_their_types(page, shot):
    _open(page, "/assets/marts/mart_production_daily", expect="production_date")
    text = page.inner_text("body")
    assert "Columns" in text
    # each column's type beside its name (the page already holds "date" in the name production_date)
    for column, column_type in (("production_date", "date"), ("gross_production", "numeric")):
        assert re.search(rf"{column}\s+{column_type}", text), (column, column_type)
    shot("mart_columns")


def test_global_lineage_shows_raw_dbt_and_journey_groups(page, shot):
    _open(page, "/asset-groups", expect="raw_opendental")
    text = page.inner_text("body")
    for group in ("raw_opendental", "dbt_staging", "dbt_intermediate", "dbt_marts", "journey"):
        assert group in text, group
    shot("asset_graph")


def test_mart_lineage_reaches_its_raw_tables(page, shot):
    page.set_viewport_size({"width": 1600, "height": 1250})
    _open(page, "/assets/marts/mart_production_daily?view=lineage&lineageScope=neighbors&lineageDepth=4",
          expect="int_procedures")
    text = page.inner_text("body")
    # the graph shows the layer groups and, in full, the short names (long ones are abbreviated)
    for name in ("raw_opendental", "dbt_staging", "dbt_intermediate", "dbt_marts",
                 "procedurelog", "procedurecode", "int_procedures", "int_adjustments"):
        assert name in text, name
    shot("mart_lineage")


def test_mart_checks_passed(page, shot):
    _open(page, "/assets/marts/mart_production_daily?view=checks", expect="Succeeded")
    text = page.inner_text("body")
    assert "not_null_mart_production_daily_production_date" in text
    assert "Succeeded" in text and "Passed" in text
    assert "Failed" not in text
    shot("mart_checks")


def test_mart_materialization_shows_production_by_month(page, shot):
    _open(page, "/assets/marts/mart_production_daily?view=events", expect="production_by_month")
    last_month = (dt.date.today().replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    text = _text_once_shown(page, last_month)
    assert last_month in text  # the last 12 months, up to the as-of date (today)
    assert "net" in text
    shot("mart_production_by_month")


def test_ar_aging_materialization_shows_buckets(page, shot):
    _open(page, "/assets/marts/mart_ar_aging?view=events", expect="ar_by_aging_bucket")
    buckets = ("0-30 days", "31-60 days", "61-90 days", "over 90 days")
    text = _text_once_shown(page, *buckets)
    for bucket in buckets:
        assert bucket in text, bucket
    shot("mart_ar_aging")


def test_journey_materialization_shows_data_quality(page, shot):
    _open(page, "/assets/treatment_journey?view=events", expect="data_quality")
    text = _text_once_shown(page, "duplicate procedure ids")
    assert "duplicate procedure ids" in text
    shot("journey_data_quality")
