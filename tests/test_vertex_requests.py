"""What jobs and versions become in Vertex AI terms (pure; no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.backends.google.vertex import requests as vx
from reconciler.backends.google.vertex.images import prediction_image, training_image
from reconciler.diagnostics import MlapplyError
from reconciler.identity.tiers import resolve_machines
from reconciler.stack.resources import LocalSettings, Tuning, TuningParameter

PACKAGE = {"executorImageUri": "image", "packageUris": ["gs://b/p.tar.gz"], "pythonModule": "m"}
LOCAL = LocalSettings(home=Path("."))


def test_standard_1_is_a_chief_workers_and_parameter_servers() -> None:
    pools = vx.worker_pools(resolve_machines("STANDARD_1", None, "vertex", LOCAL), PACKAGE)
    assert [(p["machineSpec"]["machineType"], p["replicaCount"]) for p in pools] == [
        ("n1-highcpu-8", "1"),
        ("n1-highcpu-8", "4"),
        ("n1-standard-4", "3"),
    ]
    assert all(p["pythonPackageSpec"] == PACKAGE for p in pools)


def test_a_skipped_pool_between_roles_is_empty_and_gpus_are_kept() -> None:
    machines = {
        "chief": {
            "type": "n1-standard-8",
            "count": 1,
            "accelerator": {"type": "NVIDIA_TESLA_T4", "count": 1},
        },
        "evaluator": {"type": "n1-standard-4", "count": 1},
    }
    pools = vx.worker_pools(machines, PACKAGE)
    assert pools[1] == {} and pools[2] == {}
    assert pools[0]["machineSpec"] == {
        "machineType": "n1-standard-8",
        "acceleratorType": "NVIDIA_TESLA_T4",
        "acceleratorCount": 1,
    }
    assert vx.uses_gpu(machines)


def test_images_come_from_the_table_and_an_unknown_pair_is_a_clear_error() -> None:
    assert training_image("2.15", "3.10", True, "europe-west4") == (
        "europe-docker.pkg.dev/vertex-ai/training/tf-gpu.2-15.py310:latest"
    )
    assert prediction_image("2.17", False, "us-central1") == (
        "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-17:latest"
    )
    with pytest.raises(MlapplyError) as unknown:
        training_image("2.9", "3.7", False, "us-central1")
    assert "no prebuilt TensorFlow training image for runtimeVersion 2.9 with Python 3.7" in str(
        unknown.value
    )
    assert unknown.value.hint is not None and "2.17 (Python 3.10)" in unknown.value.hint


def test_a_tuning_spec_becomes_a_study_spec() -> None:
    tuning = Tuning(
        metric="rmse",
        goal="MINIMIZE",
        algorithm="GRID_SEARCH",
        early_stopping=True,
        params=(
            TuningParameter("layers", "INTEGER", 1, 4, scale="UNIT_LINEAR_SCALE"),
            TuningParameter("optimizer", "CATEGORICAL", values=("adam", "sgd")),
            TuningParameter("batch", "DISCRETE", values=(32, 64)),
        ),
    )
    study = vx.study_spec(tuning)
    assert study["algorithm"] == "GRID_SEARCH"
    assert study["parameters"] == [
        {
            "parameterId": "layers",
            "integerValueSpec": {"minValue": "1", "maxValue": "4"},
            "scaleType": "UNIT_LINEAR_SCALE",
        },
        {"parameterId": "optimizer", "categoricalValueSpec": {"values": ["adam", "sgd"]}},
        {
            "parameterId": "batch",
            "discreteValueSpec": {"values": [32.0, 64.0]},
            "scaleType": "SCALE_TYPE_UNSPECIFIED",
        },
    ]
    assert "decayCurveStoppingSpec" in study


def test_prediction_resources_never_scale_to_zero_and_legacy_machines_map() -> None:
    essence = {"machineType": "mls1-c1-m2", "scaling": {"minNodes": 0, "maxNodes": 3}}
    assert vx.prediction_resources(essence) == {
        "machineSpec": {"machineType": "n1-standard-2"},
        "minReplicaCount": 1,
        "maxReplicaCount": 3,
    }
    assert vx.prediction_resources({"scaling": {"nodes": 2}})["minReplicaCount"] == 2


def test_names_round_trip_through_aliases_and_endpoint_ids() -> None:
    assert vx.alias("taxifare_v1_4ae79bc6") == "taxifare-v1-4ae79bc6"
    assert vx.live_name(["default", "taxifare-v1-4ae79bc6"]) == "taxifare_v1_4ae79bc6"
    assert vx.endpoint_id("taxi_fare") == "taxi-fare"
    assert vx.filter_labels({"mlapply-stack": "s"}, "j") == (
        'labels.mlapply-stack="s" AND display_name="j"'
    )
