"""Throughput and latency of `mlapply serve` against calling the SavedModel in-process.

Run: `.venv/bin/python bench/serving.py [--seconds 10] [--clients 1 16]`.

It writes a SavedModel with the example's serving signature (the seven
taxi features, a 64-32 network), deploys it as a ModelVersion of a
throwaway stack through `mlapply apply`, starts `mlapply serve` on a free
port, and drives it with N concurrent HTTP clients (aiohttp, one keep-alive
connection each, one instance per request, TF Serving path). The limit is
the same signature called in-process by N threads, one instance per call.
Prints requests per second and p50/p99 latency for each, and the ratio.

At one client it also measures the floor a served request cannot go under:
a bare aiohttp handler (read the body, parse it, answer a fixed prediction,
no model) in its own process, driven the same way; its p50 plus the
in-process call's p50 is the floor, and the served p50 is shown against it.
It also times the in-process call paced as a lone client's requests come
(after 0.5 ms idle each time), which a server cannot beat either.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from reconciler.sampledata import TAXI

REPO = Path(__file__).resolve().parent.parent
NUMERIC = [
    "pickup_longitude",
    "pickup_latitude",
    "dropoff_longitude",
    "dropoff_latitude",
    "passenger_count",
]
CATEGORICAL = ["hour_of_day", "day_of_week"]
INSTANCE = TAXI.instances[0]
STACK = """
apiVersion: mlapply/v1
kind: Stack
metadata: {name: servebench}
---
apiVersion: mlapply/v1
kind: Model
metadata: {name: fare}
---
apiVersion: mlapply/v1
kind: ModelVersion
metadata: {name: fare-v1}
spec: {model: fare, source: {uri: ../savedmodel}, default: true}
"""


def write_saved_model(directory: Path) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    module = tf.Module()
    sizes = [len(NUMERIC) + 24 + 7, 64, 32, 1]
    module.weights = [
        tf.Variable(tf.random.normal([a, b], stddev=0.1, seed=i))
        for i, (a, b) in enumerate(itertools.pairwise(sizes))
    ]
    specs = {name: tf.TensorSpec([None], tf.float32, name=name) for name in NUMERIC}
    specs.update({name: tf.TensorSpec([None], tf.int32, name=name) for name in CATEGORICAL})

    def network(features: dict[str, Any]) -> dict[str, Any]:
        numeric = tf.stack([features[name] for name in NUMERIC], axis=1)
        hour = tf.one_hot(features["hour_of_day"], 24)
        day = tf.one_hot(features["day_of_week"], 7)
        layer = tf.concat([numeric, hour, day], axis=1)
        for weights in module.weights[:-1]:
            layer = tf.nn.relu(tf.matmul(layer, weights))
        return {"predicted_fare": tf.reshape(tf.matmul(layer, module.weights[-1]), [-1])}

    serve = tf.function(network, input_signature=[specs])
    module.serve = serve
    tf.saved_model.save(module, str(directory), signatures={"serving_default": serve})


def summary(latencies: list[float], seconds: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "rps": len(ordered) / seconds,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
    }


def paced(model_dir: Path, seconds: float, gap: float = 0.0005) -> dict[str, float]:
    """The in-process call made at a lone client's pace: after ``gap`` seconds of
    sleep each time, as a server between requests (its caches and TensorFlow's
    threads have cooled), where the floor's calls come back to back."""
    from reconciler.serving.signature import ServingSignature

    signature = ServingSignature.load(model_dir)
    columns, _ = signature.columns_from_instances([INSTANCE])
    latencies = []
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        time.sleep(gap)
        start = time.perf_counter()
        signature.run(columns)
        latencies.append(time.perf_counter() - start)
    return summary(latencies, seconds)


def in_process(model_dir: Path, clients: int, seconds: float) -> dict[str, float]:
    from reconciler.serving.signature import ServingSignature

    signature = ServingSignature.load(model_dir)
    columns, _ = signature.columns_from_instances([INSTANCE])
    for _ in range(50):
        signature.run(columns)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    stop = time.perf_counter() + seconds

    def worker(mine: list[float]) -> None:
        while (start := time.perf_counter()) < stop:
            signature.run(columns)
            mine.append(time.perf_counter() - start)

    threads = [threading.Thread(target=worker, args=(mine,)) for mine in latencies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return summary([x for mine in latencies for x in mine], seconds)


async def over_http(url: str, clients: int, seconds: float) -> dict[str, float]:
    import aiohttp

    body = json.dumps({"instances": [INSTANCE]})
    headers = {"Content-Type": "application/json"}
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client(until: float, record: bool) -> None:
            while (start := time.perf_counter()) < until:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        raise SystemExit(f"HTTP {response.status}: {await response.text()}")
                if record:
                    latencies.append(time.perf_counter() - start)

        warm = time.perf_counter() + 1.0
        await asyncio.gather(*(client(warm, False) for _ in range(clients)))
        stop = time.perf_counter() + seconds
        await asyncio.gather(*(client(stop, True) for _ in range(clients)))
    return summary(latencies, seconds)


def bare_server() -> None:
    """The floor's server: aiohttp answering a fixed prediction, printing its URL."""
    from aiohttp import web

    async def handle(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        answer = {"predictions": [{"predicted_fare": 0.0} for _ in body["instances"]]}
        return web.Response(text=json.dumps(answer), content_type="application/json")

    async def run() -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        print(f"bare on http://127.0.0.1:{port} ", flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


def start_server(command: list[str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if " on http" not in line:
        raise SystemExit(f"mlapply serve did not start: {line!r}")
    return process, line.split(" on ")[1].split()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        bare_server()
        return
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        (root / ".git").mkdir()
        write_saved_model(root / "savedmodel")
        (root / "m").mkdir()
        (root / "m" / "stack.yaml").write_text(STACK.lstrip())
        subprocess.run(
            [sys.executable, "-m", "reconciler.cli", "apply", str(root / "m"), "--auto-approve"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        serve = [sys.executable, "-m", "reconciler.cli", "serve", str(root / "m"), "--port", "0"]
        process, url = start_server(serve)
        try:
            rows = []
            for clients in args.clients:
                limit = in_process(root / "savedmodel", clients, args.seconds)
                served = asyncio.run(
                    over_http(f"{url}/v1/models/fare:predict", clients, args.seconds)
                )
                rows.append((clients, limit, served))
        finally:
            process.terminate()
            process.wait()
        bare = cooled = None
        if 1 in args.clients:
            cooled = paced(root / "savedmodel", args.seconds)
            process, url = start_server([sys.executable, __file__, "--bare-server"])
            try:
                bare = asyncio.run(over_http(f"{url}/v1/models/fare:predict", 1, args.seconds))
            finally:
                process.terminate()
                process.wait()
    print(
        f"{'clients':>7} | {'in-process rps':>14} {'p50 ms':>7} {'p99 ms':>7} | "
        f"{'served rps':>10} {'p50 ms':>7} {'p99 ms':>7} | ratio"
    )
    for clients, limit, served in rows:
        print(
            f"{clients:>7} | {limit['rps']:>14.0f} {limit['p50_ms']:>7.2f} {limit['p99_ms']:>7.2f}"
            f" | {served['rps']:>10.0f} {served['p50_ms']:>7.2f} {served['p99_ms']:>7.2f}"
            f" | {served['rps'] / limit['rps']:.0%}"
        )
    if bare is not None:
        limit, served = next((limit, served) for clients, limit, served in rows if clients == 1)
        floor = bare["p50_ms"] + limit["p50_ms"]
        print(
            f"one client: bare aiohttp p50 {bare['p50_ms']:.3f} ms + in-process p50 "
            f"{limit['p50_ms']:.3f} ms = floor {floor:.3f} ms; served p50 "
            f"{served['p50_ms']:.3f} ms = {served['p50_ms'] / floor:.2f}x the floor"
        )
    if cooled is not None:
        print(f"the in-process call after 0.5 ms idle each time: p50 {cooled['p50_ms']:.3f} ms")


if __name__ == "__main__":
    main()
