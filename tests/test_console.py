"""The console: its JSON endpoints on their own (shape, bounds, a job with no samples
yet, refusals), then the page in a real browser (Debian's Chromium, driven by
Playwright) watching a real job: it appears, its CPU and memory charts have points
and gain points while it runs, and the log tail shows what the trainer printed."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler import cli
from reconciler.backends.base import JobState, LiveJob, LiveModel, LiveVersion, VersionState
from reconciler.backends.local import LocalStore
from reconciler.backends.recorded import ROLLING, RolloutState, with_rollout
from reconciler.backends.served import Served
from reconciler.render import console as views
from reconciler.stack.resources import LABEL_HASH, LABEL_NAME, LABEL_STACK
from tests.conftest import REPO
from tests.fake_gcp.server import FakeGcp
from tests.test_vertex import example, fake  # noqa: F401 (fixtures: Vertex, faked)
from tests.test_watching import burn_project

ARTIFACTS = Path(os.environ.get("MLAPPLY_TEST_ARTIFACTS", REPO / "test-artifacts"))


class Console:
    """`mlapply console` in its own process, on a port of its choosing."""

    def __init__(self, manifests: Path, *options: str) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reconciler",
                "console",
                str(manifests),
                "--port",
                "0",
                *options,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        said: list[str] = []  # validate's warnings may come first
        while not said or " on http://" not in said[-1]:
            said.append(self.process.stdout.readline())
            assert said[-1] and len(said) < 50, "".join(said)
        self.url = said[-1].split(" on ", 1)[1].split("/ ", 1)[0]

    def get(self, path: str, host: str | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(self.url + path, headers={"Host": host} if host else {})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.load(answer)
        except urllib.error.HTTPError as refused:
            return refused.code, json.load(refused)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture
def console_of() -> Iterator[Any]:
    started: list[Console] = []

    def start(manifests: Path, *options: str) -> Console:
        started.append(Console(manifests, *options))
        return started[-1]

    yield start
    for console in started:
        console.stop()


def _record(manifests: Path, name: str, state: JobState, **figures: Any) -> LocalStore:
    """A job as the local backend records it (the real store), without running one."""
    store = LocalStore(manifests / ".mlapply", create=True)
    labels = {LABEL_STACK: "watched", LABEL_NAME: "burn", LABEL_HASH: name[-8:]}
    store.put_job(LiveJob(name, labels, state, create_time=time.time()), **figures)
    return store


def _rolling_model(manifests: Path) -> None:
    """A model whose fare_v2 takes 20 % from fare_v1, and five minutes of requests."""
    store = LocalStore(manifests / ".mlapply", create=True)
    labels = {LABEL_STACK: "watched"}
    now = time.time()
    try:
        store.put_model(
            LiveModel(
                "fare", labels, default_version="fare_v1", traffic={"fare_v1": 80, "fare_v2": 20}
            )
        )
        rolling = RolloutState(ROLLING, 0, now - 120, "fare_v1")
        for name, spec in (("fare_v1", {}), ("fare_v2", with_rollout({}, rolling))):
            store.put_version(
                LiveVersion(name, labels, model="fare", state=VersionState.READY, spec=spec)
            )
        store.add_served(
            "watched",
            [
                ("fare", version, now - 60 * minute, Served(share * 10, minute % 2))
                for minute in range(5)
                for version, share in (("fare_v1", 80), ("fare_v2", 20))
            ],
        )
    finally:
        store.close()


# The views, pure ----------------------------------------------------------------------


def test_usage_is_answered_as_columns_bounded_to_the_newest_points() -> None:
    points = [(float(t), 0.5, 100 + t) for t in range(views.MAX_POINTS + 50)]
    shown = views.usage_view({"chief-0": points}, since=None)["tasks"]["chief-0"]
    assert len(shown["time"]) == views.MAX_POINTS and shown["time"][-1] == points[-1][0]
    later = views.usage_view({"chief-0": points}, since=points[-3][0])["tasks"]["chief-0"]
    assert later == {"time": [p[0] for p in points[-2:]], "cpu": [0.5, 0.5],
                     "memory_bytes": [p[2] for p in points[-2:]]}  # fmt: skip
    assert views.log_view("a\nb\nc", 2) == {"lines": ["b", "c"], "truncated": True}
    assert len(views.log_view("x\n" * 5000, 10**6)["lines"]) == views.MAX_LOG_LINES


def test_the_stack_view_says_what_would_change_and_the_models_view_what_is_held() -> None:
    plan = {
        "summary": {"converged": False},
        "changes": [
            {"address": "job.a", "kind": "TrainingJob", "action": "no-op", "reasons": []},
            {
                "address": "version.v",
                "kind": "ModelVersion",
                "action": "blocked",
                "reasons": [{"code": "gate", "text": "held: rmse 3.41 > threshold 3"}],
            },
        ],
    }
    stack = views.stack_view("s", "local", plan, 1.0, None, {"outcome": "apply complete"})
    assert stack["converged"] is False
    assert stack["changes"] == [
        {
            "address": "version.v",
            "action": "blocked",
            "reasons": ["held: rmse 3.41 > threshold 3"],
            "forecast": None,
        }
    ]
    assert views.stack_view("s", "local", None, None, None, None)["converged"] is None
    held = views.models_view({"models": [], "now": 0.0}, plan)["held"]
    assert held == [{"address": "version.v", "reasons": ["held: rmse 3.41 > threshold 3"]}]


# The endpoints ------------------------------------------------------------------------


def test_the_endpoints_answer_a_job_with_no_samples_yet_and_refuse_what_is_not_asked(
    tmp_path: Path, console_of: Any
) -> None:
    manifests = burn_project(tmp_path, seconds=1)
    _record(manifests, "burn_0000aaaa", JobState.QUEUED)
    with socket.socket() as board:
        board.bind(("127.0.0.1", 0))
        port = board.getsockname()[1]
        console = console_of(manifests, "--tensorboard-port", str(port))

        status, jobs = console.get("/api/jobs")
        assert status == 200
        (job,) = jobs["jobs"]
        assert job["name"] == "burn_0000aaaa" and job["state"] == "QUEUED"
        assert job["cpu_now"] is None and job["scale_tier"] is None
        assert job["tensorboard_url"] is None  # no TensorBoard there: no link to nothing
        board.listen()
        (job,) = console.get("/api/jobs")[1]["jobs"]
        assert job["tensorboard_url"] == (
            f"http://127.0.0.1:{port}/?runFilter=burn%2Fburn_0000aaaa#timeseries"
        )
    assert console.get("/api/jobs/burn_0000aaaa/usage") == (200, {"tasks": {}})
    status, log = console.get("/api/jobs/burn_0000aaaa/log")
    assert status == 200 and log["lines"] == [] and log["error"] == "no chief-0 log yet"

    assert console.get("/api/jobs/nope/usage")[0] == 404
    assert console.get("/api/jobs/burn_0000aaaa/usage?trial=1")[0] == 404  # not a study
    for bad in ("task=../../state.db", "task=chief", "lines=many", "trial=a/b", "lines=1e309"):
        status, answer = console.get(f"/api/jobs/burn_0000aaaa/log?{bad}")
        assert status == 400, (bad, answer)
    # A name rebound to this machine by a web page (DNS rebinding) is not answered.
    port = console.url.rsplit(":", 1)[1]
    status, answer = console.get("/api/jobs", host=f"attacker.example:{port}")
    assert status == 403 and "--allow-host" in answer["error"], answer
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "10.1.2.3"):
        assert console.get("/api/models", host=host)[0] == 200, host

    status, models = console.get("/api/models")
    assert (status, models) == (200, {"models": [], "held": []})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, stack = console.get("/api/stack")
        if stack["converged"] is not None or stack["plan_error"]:
            break
        time.sleep(0.5)
    # A job queued at this identity is being waited for: not converged, and why.
    assert stack["backend"] == "local" and stack["converged"] is False, stack
    assert stack["changes"][0]["address"] == "job.burn"


def test_usage_answers_each_task_bounded_and_after_since(tmp_path: Path, console_of: Any) -> None:
    manifests = burn_project(tmp_path, seconds=1)
    store = _record(manifests, "burn_0000bbbb", JobState.SUCCEEDED, mean_cpu=0.5)
    many = 3 * views.MAX_POINTS  # more than a supervisor keeps, written past its bound
    store.add_samples("burn_0000bbbb", [("chief-0", float(t), 1.0, 2**20) for t in range(many)])
    store.add_samples("burn_0000bbbb", [("worker-0", 5.0, 0.25, 2**21)])
    console = console_of(manifests)
    status, usage = console.get("/api/jobs/burn_0000bbbb/usage")
    assert status == 200
    assert len(usage["tasks"]["chief-0"]["time"]) == views.MAX_POINTS
    assert usage["tasks"]["worker-0"] == {"time": [5.0], "cpu": [0.25], "memory_bytes": [2**21]}
    status, usage = console.get(f"/api/jobs/burn_0000bbbb/usage?since={many - 3}")
    assert usage["tasks"]["chief-0"]["time"] == [many - 2.0, many - 1.0]
    assert "worker-0" not in usage["tasks"]


# The page, in a real browser ----------------------------------------------------------


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        message = "Debian's chromium is not installed (.ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.mark.browser
@pytest.mark.usefixtures("default_runtime")
def test_the_page_shows_a_running_job_with_growing_charts_and_its_log(
    tmp_path: Path, console_of: Any
) -> None:
    from playwright.sync_api import sync_playwright

    chromium = _chromium()
    manifests = burn_project(tmp_path, seconds=20)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler",
            "apply",
            str(manifests),
            "--auto-approve",
            "--no-wait",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    console = console_of(manifests)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            # The page's CSP forbids eval; the test's own probes are let through.
            page = browser.new_page(viewport={"width": 1280, "height": 1000}, bypass_csp=True)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(console.url + "/")
            page.wait_for_selector("#jobs tbody tr[data-job^='burn_']", timeout=30_000)
            assert "burn" in page.inner_text("#jobs tbody")
            assert "Forecast" in page.inner_text("#jobs thead")  # a first run: "-"
            page.wait_for_function(
                "Number(document.querySelector('#cpu-chart').dataset.points) > 0"
                " && Number(document.querySelector('#memory-chart').dataset.points) > 0",
                timeout=60_000,
            )
            before = int(page.get_attribute("#cpu-chart", "data-points") or 0)
            page.wait_for_function(
                f"Number(document.querySelector('#cpu-chart').dataset.points) > {before}",
                timeout=30_000,
            )
            assert page.locator("#cpu-chart canvas").count() == 1  # uPlot drew it
            page.wait_for_function(
                "document.querySelector('#log').textContent.includes('step ')", timeout=30_000
            )
            assert "RUNNING" in page.inner_text("#job-state")
            assert "chief-0" in page.inner_text("#job-tasks")
            page.wait_for_function(
                "Number(document.querySelector('#cpu-chart').dataset.points) >= 4",
                timeout=30_000,
            )
            # A model part way through a rollout: each version's traffic, where the
            # rollout stands, and what each version served over time.
            _rolling_model(manifests)
            page.wait_for_function(
                "document.querySelector('#served-fare')"
                " && Number(document.querySelector('#served-fare').dataset.points) >= 10",
                timeout=30_000,
            )
            shown = page.inner_text("#models")
            assert "fare_v2 READY · 20 % of traffic" in shown, shown
            assert "rolling out from fare_v1: step 1 for 2 min" in shown, shown
            assert page.locator("#served-fare canvas").count() == 1
            page.screenshot(path=str(ARTIFACTS / "console.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()


def test_each_plan_of_the_console_reads_the_manifests_as_they_are_now(tmp_path: Path) -> None:
    from reconciler.cli.common import driver
    from reconciler.cli.console import StackSource, _load

    manifests = burn_project(tmp_path, seconds=1)
    stack = _load([str(manifests)], [], [])
    source = StackSource(stack, driver(stack), 1.0, None, lambda: _load([str(manifests)], [], []))
    source._plan()
    assert source.plan is not None and source.plan_error is None
    assert [c["address"] for c in source.plan["changes"]] == ["job.burn"]
    (manifests / "stack.yaml").write_text(
        (manifests / "stack.yaml").read_text().replace("trainer: t,", "trainer: tt,")
    )
    source._plan()
    assert source.plan_error == "the manifests do not validate (1 error)"
    assert source.stack()["plan_error"] == source.plan_error


@pytest.mark.slow
def test_on_vertex_the_console_links_the_cloud_console_and_invents_no_usage(
    fake: FakeGcp,  # noqa: F811
    example: Path,  # noqa: F811
    console_of: Any,
) -> None:
    """Usage and logs are where Vertex keeps them (Cloud Monitoring and Logging): the
    console shows none, says where, and links each job and endpoint to its page."""
    done = CliRunner().invoke(cli.cli, ["apply", str(example), "--auto-approve"])
    assert done.exit_code == 0, done.output
    console = console_of(example)
    status, jobs = console.get("/api/jobs")
    (job,) = jobs["jobs"]
    assert job["console_url"].startswith(
        "https://console.cloud.google.com/agent-platform/locations/us-central1/training/"
    )
    assert job["tensorboard_url"] is None and job["cpu_now"] is None
    assert console.get(f"/api/jobs/{job['name']}/usage") == (200, {"tasks": {}})
    status, log = console.get(f"/api/jobs/{job['name']}/log")
    assert status == 200 and log["error"] == "the logs of Vertex AI jobs are in Cloud Logging"
    status, models = console.get("/api/models")
    (model,) = models["models"]
    assert model["console_url"].startswith(
        "https://console.cloud.google.com/agent-platform/locations/us-central1/endpoints/"
    )
