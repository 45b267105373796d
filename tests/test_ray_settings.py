"""The ray backend without a cluster: what validate says, and facts said twice."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler import cli
from reconciler.backends.ray import driver, launcher
from reconciler.diagnostics import MlapplyError

STACK = """apiVersion: mlapply/v1
kind: Stack
metadata: {name: r}
spec: {backend: ray, ray: {storage: s}}
---
apiVersion: mlapply/v1
kind: Model
metadata: {name: m}
"""


def test_the_driver_reads_a_lost_node_as_the_launcher_reports_it() -> None:
    assert driver.LOST_EXIT == launcher.LOST_EXIT


def test_validate_takes_a_model_on_ray_and_reads_the_driver_without_importing_ray(
    tmp_path: Path,
) -> None:
    (tmp_path / "stack.yaml").write_text(STACK)
    result = CliRunner().invoke(cli.cli, ["validate", str(tmp_path)])
    assert result.exit_code == 0, result.output
    probe = (
        "import sys; from reconciler.backends import registry; registry.facets('ray'); "
        "print('ray' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


class _VersionOnly(BaseHTTPRequestHandler):
    """A dashboard that answers the SDK's version check and nothing else."""

    def do_GET(self) -> None:
        body = json.dumps({"ray_version": "2.60.0", "ray_commit": "x", "version": "4"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def test_a_cluster_gone_mid_command_is_one_error_naming_it() -> None:
    from ray.job_submission import JobSubmissionClient

    server = HTTPServer(("127.0.0.1", 0), _VersionOnly)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    address = f"http://127.0.0.1:{server.server_address[1]}"
    client = driver._Answering(JobSubmissionClient(address), address)
    server.shutdown()
    server.server_close()
    with pytest.raises(MlapplyError) as gone:
        client.list_jobs()
    assert gone.value.message.startswith(f"no Ray cluster answers at {address}")
    assert "ray start --head" in (gone.value.hint or "")


def test_a_runtime_runs_on_its_release_or_a_newer_one_with_the_same_keras() -> None:
    check = launcher.runtime_check
    assert check("2.21", (2, 21))[0]
    assert check("2.17", (2, 21))[0] and check("2.11", (2, 15))[0]
    assert not check("2.15", (2, 21))[0]  # Keras 2 and tf.estimator are gone in 2.16
    assert not check("2.21", (2, 17))[0]  # never an older release
    assert "declare runtimeVersion 2.21" in check("2.15", (2, 21))[1]
    assert "no TensorFlow" in check("2.17", None)[1]


def test_a_trials_flags_are_written_as_every_backend_writes_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """study.py runs on the cluster without mlapply's backends: its flag_text is said
    again there, and must agree with the compiled job's."""
    from reconciler.backends.compiled import flag_text

    monkeypatch.setitem(sys.modules, "mlapply_ray_launcher", launcher)
    found = importlib.util.spec_from_file_location(
        "mlapply_ray_study", Path(driver.__file__).with_name("study.py")
    )
    assert found is not None and found.loader is not None
    study = importlib.util.module_from_spec(found)
    found.loader.exec_module(study)
    for value in (True, False, 0.5, 3, "relu", 1e-05):
        assert study.flag_text(value) == flag_text(value)


def test_the_launcher_samples_a_task_and_the_driver_reads_its_figures(tmp_path: Path) -> None:
    """launcher.watch_usage on a real process burning a core for 3 s; usage.py reads back
    what a status, an apply and the console show."""
    from reconciler.backends.ray import staging, usage

    assert staging.TASK == launcher.TASK_MARK
    job_dir = str(tmp_path / "jobs" / "j")
    burn = "import time\nend = time.time() + 3\nwhile time.time() < end: pass\n"
    process = subprocess.Popen([sys.executable, "-c", burn])
    done = threading.Event()
    path = staging.usage_file(job_dir).replace(staging.TASK, "chief-0")
    watcher = threading.Thread(target=launcher.watch_usage, args=(path, process.pid, done))
    watcher.start()
    try:
        process.wait(timeout=30)
        while usage.figures([job_dir], [job_dir]).get("cpu") is None and watcher.is_alive():
            done.wait(0.2)  # one sample at least before it ends
    finally:
        done.set()
        watcher.join(timeout=10)
    series = usage.series(job_dir)
    assert list(series) == ["chief-0"] and series["chief-0"], series
    assert max(cpu for _, cpu, _ in series["chief-0"]) > 0.5  # a core busy
    figures = usage.figures([job_dir], [])
    assert 0.5 < figures["mean_cpu"] < 1.5 and figures["peak_rss_bytes"] > 1 << 20, figures
    assert "cpu" not in figures  # it ended: no figure "now"
    assert usage.series(job_dir, since=series["chief-0"][-1][0]) == {"chief-0": []}

    # What a trainer could put there instead is left out, never followed or read whole.
    folder = Path(path).parent
    (folder / "worker-0.json").symlink_to("/dev/zero")
    (folder / "worker-1.json").write_text("[" * 5000)
    (folder / "worker-2.json").write_text(json.dumps({"points": [["x", 1, 2], [1, 2, 3]]}))
    (folder / "worker-3.json").write_bytes(b" " * (usage.LARGEST_SERIES + 1))
    assert usage.series(job_dir)["worker-2"] == [(1.0, 2.0, 3)]
    assert set(usage.series(job_dir)) == {"chief-0", "worker-2"}


def test_validate_refuses_object_storage_with_the_way_to_mount_it(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text(STACK.replace("storage: s", "storage: 's3://b/p'"))
    result = CliRunner().invoke(cli.cli, ["validate", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "stack.yaml:4:" in result.output and "spec.ray.storage s3://b/p" in result.output
    assert "mount the bucket at the same path everywhere" in result.output


def test_the_launcher_draws_the_keras_3_line_where_the_rest_of_mlapply_does() -> None:
    from reconciler.stack.releases import KERAS_3_FROM

    assert launcher.KERAS_3_FROM == KERAS_3_FROM
