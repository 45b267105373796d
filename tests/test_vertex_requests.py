"""What jobs and versions become in Vertex AI request bodies (pure; no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.backends.compiled import Pool, Role
from reconciler.backends.google.vertex import bodies
from reconciler.backends.google.vertex.images import prediction_image, training_image
from reconciler.backends.google.vertex.profile import PROFILE
from reconciler.diagnostics import MlapplyError
from reconciler.stack.resources import Accelerator, LocalSettings, Tuning, TuningParameter

PACKAGE = {"executorImageUri": "image", "packageUris": ["gs://b/p.tar.gz"], "pythonModule": "m"}
LOCAL = LocalSettings(home=Path("."))


def test_standard_1_is_a_chief_workers_and_parameter_servers() -> None:
    pools = bodies.worker_pools(PROFILE.compile_pools("STANDARD_1", None, LOCAL), PACKAGE)
    assert [(p["machineSpec"]["machineType"], p["replicaCount"]) for p in pools] == [
        ("n1-highcpu-8", "1"),
        ("n1-highcpu-8", "4"),
        ("n1-standard-4", "3"),
    ]
    assert all(p["pythonPackageSpec"] == PACKAGE for p in pools)


def test_a_skipped_pool_between_roles_is_empty_and_gpus_are_kept() -> None:
    machines = (
        Pool(Role.CHIEF, 1, "n1-standard-8", Accelerator("NVIDIA_TESLA_T4", 1)),
        Pool(Role.EVALUATOR, 1, "n1-standard-4"),
    )
    pools = bodies.worker_pools(machines, PACKAGE)
    assert pools[1] == {} and pools[2] == {}
    assert pools[0]["machineSpec"] == {
        "machineType": "n1-standard-8",
        "acceleratorType": "NVIDIA_TESLA_T4",
        "acceleratorCount": 1,
    }
    assert bodies.uses_gpu(machines)


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
    study = bodies.study_spec(tuning)
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
    assert bodies.prediction_resources(essence) == {
        "machineSpec": {"machineType": "n1-standard-2"},
        "minReplicaCount": 1,
        "maxReplicaCount": 3,
    }
    assert bodies.prediction_resources({"scaling": {"nodes": 2}})["minReplicaCount"] == 2


def test_names_round_trip_through_aliases_and_endpoint_ids() -> None:
    assert bodies.alias("taxifare_v1_4ae79bc6") == "taxifare-v1-4ae79bc6"
    assert bodies.live_name(["default", "taxifare-v1-4ae79bc6"]) == "taxifare_v1_4ae79bc6"
    assert bodies.endpoint_id("taxi_fare") == "taxi-fare"
    assert bodies.filter_labels({"mlapply-stack": "s"}, "j") == (
        'labels.mlapply-stack="s" AND display_name="j"'
    )
