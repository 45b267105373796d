"""`mlapply serve` end to end: the example stack trained and deployed in the test,
served by a real `mlapply serve` process on 127.0.0.1, asked by real clients
(google-api-python-client on the ML Engine path, plain HTTP on TF Serving's)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler import cli
from tests.conftest import copy_example

pytestmark = pytest.mark.tensorflow

SECOND_VERSION = """
---
apiVersion: mlapply/v1
kind: ModelVersion
metadata:
  name: taxifare-v2
spec:
  model: taxifare
  description: The same job, deployed a second time.
  source:
    job: taxifare-dnn
"""


@dataclass
class Served:
    manifests: Path
    url: str
    process: subprocess.Popen[str]
    request: dict[str, Any]


def _apply(manifests: Path) -> None:
    result = CliRunner().invoke(
        cli.cli, ["apply", str(manifests), "--auto-approve", "--var", "train_steps=100"]
    )
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    manifests = copy_example(tmp_path_factory.mktemp("serving") / "repo", rows=2000)
    with (manifests / "serving.yaml").open("a") as handle:
        handle.write(SECOND_VERSION)
    _apply(manifests)
    terminal = (manifests.parent / "serve-stderr.log").open("w")  # what a user would see
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "reconciler.cli", "serve", str(manifests), "--port", "0"),
            *("--max-request-bytes", "200000", "--refresh-seconds", "0.2"),
            *("--body-timeout", "1"),
        ],
        stdout=subprocess.PIPE,
        stderr=terminal,
        text=True,
    )
    terminal.close()
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("Serving stack 'taxifare' on http://127.0.0.1:"), first
    url = first.split(" on ")[1].split()[0]
    request = json.loads((manifests / "sample-request.json").read_text())
    try:
        yield Served(manifests, url, process, request)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _call(url: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any, str]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(
        url,
        data=data,
        method="POST" if data is not None else "GET",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            version = response.headers.get("X-Mlapply-Model-Version", "")
            return response.status, json.loads(response.read()), version
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), ""


def test_tensorflow_native_lines_go_to_the_stack_home_not_the_terminal(served: Served) -> None:
    status, _, _ = _call(f"{served.url}/v1/models/taxifare:predict", served.request)
    assert status == 200
    said = (served.manifests.parent / "serve-stderr.log").read_text()
    assert "loaded " in said and " in " in said  # mlapply's own lines stay
    assert not any(mark in said for mark in ("I0000", "E0000", "absl::", "oneDNN")), said
    native = served.manifests / ".mlapply" / "tensorflow-logs" / "serve.log"
    assert native.exists()


def test_google_api_client_predicts_through_the_ml_engine_path(served: Served) -> None:
    from google.auth.credentials import AnonymousCredentials
    from googleapiclient.discovery import build
    from googleapiclient.errors import HttpError

    ml = build(
        "ml",
        "v1",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": served.url},
        static_discovery=True,
    )
    answer = ml.projects().predict(name="projects/demo/models/taxifare", body=served.request)
    far, near = answer.execute()["predictions"]
    assert far > near > 2  # 11 km in the rush hour costs more than 1.5 km at night

    status, tf_answer, version = _call(f"{served.url}/v1/models/taxifare:predict", served.request)
    assert status == 200 and tf_answer["predictions"] == [far, near]
    named = ml.projects().predict(
        name=f"projects/demo/models/taxifare/versions/{version}", body=served.request
    )
    assert named.execute()["predictions"] == [far, near]

    with pytest.raises(HttpError) as missing:
        ml.projects().predict(name="projects/demo/models/nope", body=served.request).execute()
    assert missing.value.status_code == 404
    assert "model 'nope' is not deployed (deployed: taxifare)" in str(missing.value)
    with pytest.raises(HttpError) as bad:
        ml.projects().predict(
            name="projects/demo/models/taxifare", body={"instances": [{"colour": "red"}]}
        ).execute()
    assert bad.value.status_code == 400 and "unknown feature 'colour'" in str(bad.value)


def test_tf_serving_rows_columns_and_status(served: Served) -> None:
    base = f"{served.url}/v1/models/taxifare"
    status, rows, version = _call(f"{base}:predict", served.request)
    assert status == 200
    instances: list[dict[str, Any]] = served.request["instances"]
    columns = {name: [instance[name] for instance in instances] for name in instances[0]}
    status, by_column, _ = _call(f"{base}:predict", {"inputs": columns})
    assert status == 200 and by_column["outputs"] == rows["predictions"]
    status, state, _ = _call(base)
    assert status == 200
    assert {"version": version, "state": "AVAILABLE"}.items() <= next(
        s for s in state["model_version_status"] if s["version"] == version
    ).items()
    status, one, _ = _call(f"{base}/versions/{version}")
    assert status == 200 and [s["version"] for s in one["model_version_status"]] == [version]
    assert _call(f"{served.url}/v1/models/nope")[0] == 404
    assert _call(f"{base}/versions/nope:predict", served.request)[0] == 404


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "the body is not JSON"),
        (b"[1, 2]", 400, 'with "instances" (rows) or "inputs" (columns)'),
        (b'{"instances": []}', 400, '"instances" must be a non-empty list'),
        (b'{"instances": [{"hour_of_day": 8.5}]}', 400, "missing feature"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "the body is not JSON"),
        (b'{"instances": [' + b"1," * 150_000 + b"1]}", 413, "over the 200000-byte limit"),
    ],
)
def test_malformed_and_oversized_bodies_get_json_errors_and_the_server_goes_on(
    served: Served, body: bytes, status: int, message: str
) -> None:
    base = f"{served.url}/v1/models/taxifare:predict"
    got, error, _ = _call(base, raw=body)
    assert got == status and message in error["error"], error
    assert _call(base, served.request)[0] == 200


def test_a_body_that_does_not_arrive_in_time_gets_408_and_the_connection_closes(
    served: Served,
) -> None:
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/models/taxifare:predict HTTP/1.1\r\nHost: localhost\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"instances"'
        )
        started = time.monotonic()
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        waited = time.monotonic() - started
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer
    assert "did not arrive within 1 s" in json.loads(body)["error"]
    assert 1.0 <= waited < 5.0, waited
    assert _call(f"{served.url}/v1/models/taxifare:predict", served.request)[0] == 200


def test_wrong_types_and_shapes_are_named(served: Served) -> None:
    base = f"{served.url}/v1/models/taxifare:predict"
    good: dict[str, Any] = served.request["instances"][0]
    changes: list[tuple[dict[str, Any], str]] = [
        ({"hour_of_day": 8.5}, "instance 0: feature 'hour_of_day' must be int32, got a number"),
        ({"hour_of_day": [8]}, "feature 'hour_of_day' must be int32, got a list of 1"),
        ({"pickup_latitude": "north"}, "feature 'pickup_latitude' must be float32, got a string"),
    ]
    for change, message in changes:
        status, error, _ = _call(base, {"instances": [{**good, **change}]})
        assert status == 400 and message in error["error"], error


def test_a_new_default_is_served_without_a_restart_and_no_request_fails(served: Served) -> None:
    base = f"{served.url}/v1/models/taxifare:predict"
    _, _, before = _call(base, served.request)
    assert before.startswith("taxifare_v1_")
    results: list[tuple[int, str]] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            status, _, version = _call(base, served.request)
            results.append((status, version))

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    try:
        serving = served.manifests / "serving.yaml"
        text = serving.read_text()
        # v2 becomes the default; v1 leaves the manifests, so apply deletes it.
        v1_start = text.index("kind: ModelVersion")
        v1_end = text.index("---", v1_start)
        text = text[: text.rindex("---", 0, v1_start)] + text[v1_end:]
        serving.write_text(
            text.replace("    job: taxifare-dnn\n", "    job: taxifare-dnn\n  default: true\n")
        )
        _apply(served.manifests)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
            results and results[-1][1].startswith("taxifare_v2_")
        ):
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in clients:
            thread.join()
    assert all(status == 200 for status, _ in results), [r for r in results if r[0] != 200][:3]
    versions = [version for _, version in results]
    assert versions[0] == before and versions[-1].startswith("taxifare_v2_")
    assert len(results) > 20


def test_a_savedmodel_that_cannot_load_is_a_503_and_its_status_says_why(tmp_path: Path) -> None:
    root = tmp_path / "broken"
    (root / ".git").mkdir(parents=True)
    (root / "bogus").mkdir()
    (root / "bogus" / "saved_model.pb").write_bytes(b"not a SavedModel")
    (root / "m").mkdir()
    (root / "m" / "stack.yaml").write_text(
        "apiVersion: mlapply/v1\nkind: Stack\nmetadata: {name: broken}\n---\n"
        "apiVersion: mlapply/v1\nkind: Model\nmetadata: {name: fare}\n---\n"
        "apiVersion: mlapply/v1\nkind: ModelVersion\nmetadata: {name: fare-v1}\n"
        "spec: {model: fare, source: {uri: ../bogus}, default: true}\n"
    )
    result = CliRunner().invoke(cli.cli, ["apply", str(root / "m"), "--auto-approve"])
    assert result.exit_code == 0, result.output
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler.cli", "serve", str(root / "m"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split(" on ")[1].split()[0]
        status, error, _ = _call(f"{url}/v1/models/fare:predict", {"instances": [1.0]})
        assert status == 503 and "cannot load the SavedModel" in error["error"], error
        status, state, _ = _call(f"{url}/v1/models/fare")
        (version,) = state["model_version_status"]
        assert version["state"] == "END"
        assert "cannot load the SavedModel" in version["status"]["error_message"]
    finally:
        process.terminate()
        process.wait(timeout=30)
