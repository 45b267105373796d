"""Request checking and micro-batching, with a plain NumPy function as the model
(the real SavedModel path runs in tests/test_serving.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from reconciler.serving.batcher import Batcher
from reconciler.serving.signature import (
    InputSpec,
    InstanceError,
    ServingSignature,
    column_outputs,
    rows,
    strict_json,
)

INPUTS = [
    InputSpec("distance", "float32", (None,)),
    InputSpec("hour", "int32", (None,)),
    InputSpec("city", "string", (None,)),
    InputSpec("pixels", "float32", (None, 2)),
]


def _model(calls: list[int] | None = None) -> ServingSignature:
    def function(**columns: np.ndarray) -> Mapping[str, Any]:
        if calls is not None:
            calls.append(len(columns["distance"]))
        if (columns["distance"] < 0).any():
            raise ValueError("negative distance")
        return {
            "fare": columns["distance"] * 2 + columns["pixels"].sum(axis=1),
            "city": columns["city"],
        }

    return ServingSignature(function, INPUTS, ["city", "fare"])


def _instance(distance: Any = 1.0, **changes: Any) -> dict[str, Any]:
    instance: dict[str, Any] = {"distance": distance, "hour": 8, "city": "nyc", "pixels": [1, 2]}
    instance.update(changes)
    return instance


def test_rows_and_columns_give_the_same_predictions() -> None:
    model = _model()
    columns, count = model.columns_from_instances([_instance(1), _instance(2)])
    assert count == 2
    outputs = model.run(columns)
    assert rows(outputs, 0, 2) == [{"city": "nyc", "fare": 5.0}, {"city": "nyc", "fare": 7.0}]
    by_column, count = model.columns_from_inputs(
        {"distance": [1, 2], "hour": [8, 8], "city": ["nyc", "nyc"], "pixels": [[1, 2], [1, 2]]}
    )
    assert column_outputs(model.run(by_column), 0, count) == {
        "city": ["nyc", "nyc"],
        "fare": [5.0, 7.0],
    }


@pytest.mark.parametrize(
    ("instance", "message"),
    [
        (_instance(colour="red"), "instance 1: unknown feature 'colour'"),
        ({"distance": 1.0, "hour": 8, "city": "x"}, "instance 1: missing feature 'pixels'"),
        (_instance(hour=8.5), "feature 'hour' must be int32, got a number 8.5"),
        (_instance(hour=True), "feature 'hour' must be int32, got a boolean"),
        (_instance(distance="far"), "feature 'distance' must be float32, got a string"),
        (_instance(city=None), "feature 'city' must be string, got null"),
        (
            _instance(pixels=[1, 2, 3]),
            "instance 1: feature 'pixels' must be float32[2], got a list of 3",
        ),
        (_instance(pixels=1.0), "feature 'pixels' must be float32[2], got a single value"),
        (_instance(hour=[8]), "instance 1: feature 'hour' must be int32, got a list of 1"),
        (_instance(hour=2**40), "feature 'hour': a value is out of range for int32"),
        (_instance(distance=1e308), "feature 'distance': a value is out of range for float32"),
        ([1, 2], "instance 0: expected an object of features by name"),
    ],
)
def test_a_bad_instance_names_the_problem(instance: Any, message: str) -> None:
    with pytest.raises(InstanceError) as caught:
        _model().columns_from_instances(
            [_instance(), instance] if isinstance(instance, dict) else instance
        )
    assert message in str(caught.value)


def test_ragged_columns_and_b64_strings() -> None:
    model = _model()
    with pytest.raises(InstanceError, match="different numbers of values"):
        model.columns_from_inputs(
            {"distance": [1, 2], "hour": [8], "city": ["a", "b"], "pixels": [[1, 2], [1, 2]]}
        )
    columns, _ = model.columns_from_instances([_instance(city={"b64": "bnlj"})])
    assert columns["city"].tolist() == [b"nyc"]
    assert rows({"raw": np.array([b"\xff"], dtype=object)}, 0, 1) == [{"b64": "/w=="}]


def test_a_single_input_model_takes_bare_values() -> None:
    model = ServingSignature(lambda x: {"y": x * 3}, [InputSpec("x", "float32", (None,))], ["y"])
    columns, count = model.columns_from_instances([1.0, 2.0])
    assert rows(model.run(columns), 0, count) == [3.0, 6.0]


def _gather(
    model: ServingSignature, requests: list[list[dict[str, Any]]], **options: Any
) -> tuple[list[Any], int]:
    async def run() -> tuple[list[Any], int]:
        batches: list[int] = []
        with ThreadPoolExecutor(2) as pool:
            batcher = Batcher(model, pool, on_batch=lambda n, _: batches.append(n), **options)
            for _ in requests:
                batcher.expect()

            async def one(instances: list[dict[str, Any]]) -> Any:
                await asyncio.sleep(0)
                columns, count = model.columns_from_instances(instances)
                try:
                    return rows(await batcher.predict(columns, count), 0, count)
                except ValueError as exc:
                    return str(exc)

            answers = await asyncio.gather(*(one(r) for r in requests))
            await batcher.close()
        return list(answers), len(batches)

    return asyncio.run(run())


def test_concurrent_requests_meet_in_one_batch_and_each_gets_its_own_rows() -> None:
    calls: list[int] = []
    requests = [[_instance(i), _instance(i + 0.5)] for i in range(16)]
    answers, batches = _gather(_model(calls), requests, max_wait=1.0)
    assert batches < 16 and sum(calls) == 32
    for i, answer in enumerate(answers):
        assert [row["fare"] for row in answer] == [2 * i + 3, 2 * i + 4]


def test_a_batch_the_model_refuses_is_retried_request_by_request() -> None:
    requests = [[_instance(1)], [_instance(-1)], [_instance(2)]]
    answers, _ = _gather(_model(), requests, max_wait=1.0)
    assert answers[0] == [{"city": "nyc", "fare": 5.0}]
    assert answers[1] == "negative distance"
    assert answers[2] == [{"city": "nyc", "fare": 7.0}]


def test_the_batch_size_is_bounded() -> None:
    calls: list[int] = []
    _gather(_model(calls), [[_instance(i)] * 3 for i in range(10)], max_batch=4, max_wait=1.0)
    assert max(calls) <= 6 and sum(calls) == 30  # a batch stops growing once it holds 4


def test_a_request_that_arrives_after_its_version_was_unloaded_still_gets_an_answer() -> None:
    model = _model()

    async def run() -> Any:
        with ThreadPoolExecutor(1) as pool:
            batcher = Batcher(model, pool)
            batcher.expect()
            await batcher.close()
            columns, count = model.columns_from_instances([_instance(2)])
            return rows(await asyncio.wait_for(batcher.predict(columns, count), 5), 0, count)

    assert asyncio.run(run()) == [{"city": "nyc", "fare": 7.0}]


def _threaded_model(threads: list[str], calls: list[int]) -> ServingSignature:
    model = _model(calls)
    inner = model.run

    def run(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        threads.append(threading.current_thread().name)
        return inner(columns)

    model.run = run  # type: ignore[method-assign]
    return model


def test_a_lone_client_of_a_fast_model_is_answered_on_the_loops_thread_and_a_crowd_batches() -> (
    None
):
    threads: list[str] = []
    calls: list[int] = []
    model = _threaded_model(threads, calls)

    async def run() -> tuple[list[Any], list[Any]]:
        with ThreadPoolExecutor(2, thread_name_prefix="pool") as pool:
            batcher = Batcher(model, pool, max_wait=1.0)
            lone = []
            for i in range(3):  # one after another, as a single client sends them
                batcher.expect()
                columns, count = model.columns_from_instances([_instance(i)])
                lone.append(rows(await batcher.predict(columns, count), 0, count))
            calls.clear()
            for _ in range(16):
                batcher.expect()

            async def one(i: int) -> Any:
                await asyncio.sleep(0)
                columns, count = model.columns_from_instances([_instance(i)])
                return rows(await batcher.predict(columns, count), 0, count)

            crowd = await asyncio.gather(*(one(i) for i in range(16)))
            await batcher.close()
        return lone, list(crowd)

    lone, crowd = asyncio.run(run())
    # The first call is timed on a worker; the next, known fast, run on the loop's thread.
    assert threads[0].startswith("pool") and threads[1:3] == ["MainThread", "MainThread"]
    assert [answer[0]["fare"] for answer in lone] == [3.0, 5.0, 7.0]
    assert len(calls) < 16 and sum(calls) == 16  # the crowd met in batches
    assert [answer[0]["fare"] for answer in crowd] == [2 * i + 3 for i in range(16)]


def test_a_request_cancelled_while_it_waits_to_run_leaves_the_version_serving() -> None:
    model = _model()

    async def run() -> Any:
        with ThreadPoolExecutor(1) as pool:
            batcher = Batcher(model, pool)
            for _ in range(2):  # known fast: a lone request now waits two turns, then runs
                batcher.expect()
                columns, count = model.columns_from_instances([_instance(1)])
                await batcher.predict(columns, count)
            batcher.expect()
            gone = asyncio.create_task(batcher.predict(columns, count))
            await asyncio.sleep(0)
            gone.cancel()  # its client went away during those turns
            batcher.expect()
            columns, count = model.columns_from_instances([_instance(2)])
            answer = await asyncio.wait_for(batcher.predict(columns, count), 5)
            await asyncio.wait_for(batcher.close(), 5)
            return rows(answer, 0, count)

    assert asyncio.run(run()) == [{"city": "nyc", "fare": 7.0}]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"instances": [{"distance": NaN}]}', "NaN is not a JSON number"),
        ('{"instances": [{"distance": Infinity}]}', "Infinity is not a JSON number"),
        ('{"instances": [{"distance": 1, "distance": 2}]}', "'distance' appears twice"),
    ],
)
def test_requests_are_json_as_the_rfc_has_it(body: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        strict_json(body)
