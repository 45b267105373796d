"""What jobs and versions become in Vertex AI request bodies (pure; no server)."""

from __future__ import annotations

from datetime import date

import pytest

from reconciler.backends.compiled import CompiledVersion, Pool, Role
from reconciler.backends.google.tiers import TIERS
from reconciler.backends.google.vertex import bodies, images
from reconciler.backends.google.vertex.profile import PROFILE
from reconciler.backends.local.settings import LocalSettings
from reconciler.backends.profile import TrainingCheck, Verdict
from reconciler.diagnostics import MlapplyError
from reconciler.stack.resources import (
    Accelerator,
    Scaling,
    ServingContainer,
    TrainingImage,
    Tuning,
    TuningParameter,
)

PACKAGE = {"executorImageUri": "image", "packageUris": ["gs://b/p.tar.gz"], "pythonModule": "m"}
PROGRAM = {"pythonPackageSpec": PACKAGE}
LOCAL = LocalSettings()
DAY = date(2026, 12, 2)


def test_standard_1_is_a_chief_workers_and_parameter_servers() -> None:
    pools = bodies.worker_pools(PROFILE.compile_pools("STANDARD_1", None, LOCAL), PROGRAM)
    assert [(p["machineSpec"]["machineType"], p["replicaCount"]) for p in pools] == [
        ("n1-highcpu-16", "1"),
        ("n1-highcpu-16", "4"),
        ("n1-standard-4", "3"),
    ]
    assert all(p["pythonPackageSpec"] == PACKAGE for p in pools)


@pytest.mark.parametrize("tier", sorted(TIERS))
def test_every_tier_compiles_to_machines_vertex_offers(tier: str) -> None:
    pools = PROFILE.compile_pools(tier, None, LOCAL)
    assert [PROFILE.machine_problem(p) for p in pools] == [None] * len(pools)


def test_basic_tpu_is_one_tpu_vm_pool_on_the_tpu_image() -> None:
    pools = PROFILE.compile_pools("BASIC_TPU", None, LOCAL)
    assert [(p.machine_type, p.accelerator) for p in pools] == [
        ("cloud-tpu", Accelerator("TPU_V2", 8))
    ]
    assert images.kind_of(pools) == "tpu"
    assert images.training_image("2.15", "tpu", "us-central1") == (
        "us-docker.pkg.dev/vertex-ai/training/tf-tpu.2-15.cp310:latest"
    )


def test_machines_vertex_does_not_offer_are_named() -> None:
    assert "no machine type n1-highcpu-8" in str(
        PROFILE.machine_problem(Pool(Role.CHIEF, 1, "n1-highcpu-8"))
    )
    assert "no accelerator NVIDIA_TESLA_K80" in str(
        PROFILE.machine_problem(
            Pool(Role.CHIEF, 1, "n1-standard-8", Accelerator("NVIDIA_TESLA_K80", 1))
        )
    )
    assert "cloud-tpu" in str(
        PROFILE.machine_problem(Pool(Role.CHIEF, 1, "n1-standard-8", Accelerator("TPU_V2", 8)))
    )


def test_a_skipped_pool_between_roles_is_empty_and_gpus_are_kept() -> None:
    machines = (
        Pool(Role.CHIEF, 1, "n1-standard-8", Accelerator("NVIDIA_TESLA_T4", 1)),
        Pool(Role.EVALUATOR, 1, "n1-standard-4"),
    )
    pools = bodies.worker_pools(machines, PROGRAM)
    assert pools[1] == {} and pools[2] == {}
    assert pools[0]["machineSpec"] == {
        "machineType": "n1-standard-8",
        "acceleratorType": "NVIDIA_TESLA_T4",
        "acceleratorCount": 1,
    }
    assert images.kind_of(machines) == "gpu"


def test_images_come_from_the_catalogue_and_a_missing_one_is_a_clear_error() -> None:
    assert images.training_image("2.15", "gpu", "europe-west4") == (
        "europe-docker.pkg.dev/vertex-ai/training/tf-gpu.2-15.py310:latest"
    )
    assert images.prediction_image("2.15", False, "us-central1") == (
        "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
    )
    with pytest.raises(MlapplyError) as unknown:
        images.prediction_image("2.17", False, "us-central1")
    assert (
        "no prebuilt TensorFlow prediction image for runtimeVersion 2.17" in unknown.value.message
    )
    assert unknown.value.hint is not None and "servingContainer" in unknown.value.hint


def _check(runtime: str, image: TrainingImage | None = None, day: date = DAY) -> Verdict | None:
    pools = PROFILE.compile_pools("BASIC", None, LOCAL)
    return PROFILE.training_check(TrainingCheck(runtime, "3.10", pools, image, day))


def test_end_of_availability_warns_within_90_days_and_errors_after() -> None:
    ended = _check("2.17")
    assert ended is not None and ended.error
    assert "reached its end of availability on 2026-07-11" in ended.message
    assert "spec.container.image" in ended.hint
    assert _check("2.17", day=date(2026, 3, 1)) is None
    soon = _check("2.17", day=date(2026, 5, 1))
    assert soon is not None and not soon.error and "2026-07-11" in soon.message
    executor = "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-16.py310:latest"
    chosen = _check("2.17", TrainingImage(executor=executor))
    assert chosen is not None and chosen.error and executor in chosen.message
    own = _check("2.17", TrainingImage(executor="us-central1-docker.pkg.dev/p/r/mine:1"))
    assert own is not None and own.error and "spec.container.image" in own.hint
    assert _check("2.17", TrainingImage(container="us-central1-docker.pkg.dev/p/r/t:1")) is None
    serving = PROFILE.serving_check("2.15", None, DAY)
    assert serving is not None and not serving.error and "2027-01-14" in serving.message
    gone = PROFILE.serving_check("2.17", None, DAY)
    assert gone is not None and gone.error and "servingContainer" in gone.hint
    mine = "us-central1-docker.pkg.dev/p/serving/me:1"
    assert PROFILE.serving_check("2.17", ServingContainer(mine), DAY) is None
    # Vertex takes a serving image from Artifact Registry or Container Registry only.
    hub = PROFILE.serving_check("2.17", ServingContainer("tensorflow/serving:2.17.0"), DAY)
    assert hub is not None and hub.error and "Artifact Registry" in hub.message


def test_a_server_fills_the_container_and_a_container_of_ones_own_is_sent_as_written() -> None:
    mirror = "us-central1-docker.pkg.dev/p/mirror/tensorflow-serving:2.17.0"
    spec = bodies.serving_container(ServingContainer(mirror, server="tensorflow-serving"))
    assert spec["args"][-1] == "--model_base_path=$(AIP_STORAGE_URI)"
    assert spec["ports"] == [{"containerPort": 8501}]
    assert spec["predictRoute"] == "/v1/models/model:predict"
    own = ServingContainer(mirror, port=9000, predict_route="/p", health_route="/h")
    assert bodies.serving_container(own) == {
        "imageUri": mirror,
        "ports": [{"containerPort": 9000}],
        "predictRoute": "/p",
        "healthRoute": "/h",
    }


def test_a_removed_deployments_traffic_goes_to_the_others() -> None:
    assert bodies.without({"1": 100}, "1", ["2"]) == {"2": 100}
    assert bodies.without({"1": 50, "2": 25, "3": 25}, "1", ["2", "3"]) == {"2": 50, "3": 50}
    assert bodies.without({"1": 100}, "1", []) == {}
    assert bodies.without({"2": 100}, "1", ["2"]) == {"2": 100}
    # The others listed at 0 %, as Google's SDK writes them (was a ZeroDivisionError).
    assert bodies.without({"1": 100, "2": 0}, "1", ["2"]) == {"2": 100}
    assert bodies.without({"1": 100, "2": 0, "3": 0}, "1", ["2", "3"]) == {"3": 100}
    ids = {bodies.deployed_model_id(f"v_{n}", flag) for n in range(50) for flag in (True, False)}
    assert len(ids) == 100 and all(len(i) == 10 and i[0] != "0" for i in ids)


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
    version = CompiledVersion(
        "m", "j", None, None, "2.15", "3.10", "TENSORFLOW", "mls1-c1-m2", Scaling(0, 3)
    )
    assert bodies.prediction_resources(version) == {
        "machineSpec": {"machineType": "n1-standard-2"},
        "minReplicaCount": 1,
        "maxReplicaCount": 3,
    }
    two = version._replace(machine_type="n1-standard-2", scaling=Scaling(None, None, 2))
    assert bodies.prediction_resources(two)["minReplicaCount"] == 2


def test_names_round_trip_through_aliases_and_endpoint_ids() -> None:
    assert bodies.alias("taxifare_v1_4ae79bc6") == "taxifare-v1-4ae79bc6"
    assert bodies.live_name(["default", "taxifare-v1-4ae79bc6"]) == "taxifare_v1_4ae79bc6"
    # Aliases have no order, and people add their own: mlapply's is the one it wrote.
    assert bodies.live_name(["champion", "taxifare-v1-4ae79bc6"]) == "taxifare_v1_4ae79bc6"
    assert bodies.live_name(["default", "champion"]) is None
    assert bodies.live_name(["release-deadbeef", "v1-00000000"], {"v1_00000000"}) == "v1_00000000"
    assert bodies.live_name(["release-deadbeef", "v1-00000000"]) is None  # which? neither
    assert bodies.endpoint_id("taxi_fare") == "taxi-fare"
    assert bodies.filter_labels({"mlapply-stack": "s"}, "j") == (
        'labels.mlapply-stack="s" AND display_name="j"'
    )


def test_google_timestamps_with_0_3_6_or_9_fractional_digits_and_offsets() -> None:
    from reconciler.backends.google.times import seconds

    base = 1796604123.0  # 2026-12-07T00:42:03Z
    assert seconds("2026-12-07T00:42:03Z") == base
    assert seconds("2026-12-07T00:42:03.5Z") == base + 0.5
    assert seconds("2026-12-07T00:42:03.250Z") == base + 0.25
    assert seconds("2026-12-07T00:42:03.000001Z") == pytest.approx(base + 1e-6, abs=1e-7)
    assert seconds("2026-12-07T00:42:03.123456789Z") == pytest.approx(base + 0.123456789)
    assert seconds("2026-12-07T01:42:03.123456789+01:00") == pytest.approx(base + 0.123456789)
    assert seconds(None) is None and seconds("") is None
    with pytest.raises(ValueError):
        seconds("2026-12-07T00:42:03.1234567891Z")
