"""What the fake Vertex AI accepts that discovery cannot say: images and their end of
availability, machine types, what a trainer is given. Images and the environment are
written from Google's pages (each cited, checked 2026-12-02), not from mlapply's
catalogue, so a mistake in one shows against the other; machine types and their GPUs
are the one table validate reads too (vertex/gpus.py, each rule cited), which is
data copied from Google's GPU pages rather than a reading of them.
"""

from __future__ import annotations

import json
import os
import re
from datetime import date
from typing import Any

from reconciler.backends.google.vertex import catalogue, gpus

# https://cloud.google.com/vertex-ai/docs/supported-frameworks-list (custom training,
# TensorFlow) and https://cloud.google.com/vertex-ai/docs/training/training-with-tpu-vm:
# image path -> end of availability, after which Vertex AI no longer runs it.
TRAINING_IMAGES = {
    **{
        f"training/tf-{kind}.2-{minor}.py310": ends
        for minor, ends in {
            17: date(2026, 7, 11),
            16: date(2026, 6, 28),
            15: date(2025, 11, 14),
            14: date(2025, 9, 26),
            13: date(2025, 7, 5),
            12: date(2025, 6, 30),
            11: date(2024, 11, 15),
        }.items()
        for kind in ("cpu", "gpu")
    },
    "training/tf-tpu.2-15.cp310": date(2025, 10, 23),
}
# The same page's other frameworks (PyTorch, scikit-learn, XGBoost), whose dates this
# fake does not hold: taken as offered.
OTHER_FRAMEWORKS = re.compile(r"training/(pytorch|sklearn|xgboost)-(cpu|gpu|tpu)\.\d+-\d+\.py3\d+")
# https://cloud.google.com/vertex-ai/docs/predictions/pre-built-containers (TensorFlow).
PREDICTION_IMAGES = {
    f"prediction/tf2-{kind}.2-{minor}": ends
    for minor, ends in {
        15: date(2027, 1, 14),
        14: date(2027, 1, 14),
        13: date(2025, 11, 28),
        12: date(2025, 6, 30),
        11: date(2024, 11, 15),
    }.items()
    for kind in ("cpu", "gpu")
}
# "This URI must identify an image in Artifact Registry or Container Registry"
# (ModelContainerSpec.imageUri, aiplatform v1 discovery document, checked 2026-12-07).
SERVING_REGISTRY = re.compile(r"^([a-z0-9-]+-docker\.pkg\.dev|([a-z]+\.)?gcr\.io)/")
PREBUILT = re.compile(r"^(us|europe|asia)-docker\.pkg\.dev/vertex-ai/(?P<path>[^:]+):latest$")
# The machine types custom training offers and the GPUs each takes: the catalogue's
# one table (reconciler/backends/google/vertex/gpus.py and catalogue.py, each rule
# with its source), as the issue asks of validate and the fake alike.
MACHINES = catalogue.TRAINING_MACHINES
TPU_TYPES = ("TPU_V2", "TPU_V3")


def today() -> date:
    """The fake's today: the test's MLAPPLY_TODAY when it sets one."""
    given = os.environ.get("MLAPPLY_TODAY")
    return date.fromisoformat(given) if given else date.today()


def image_problem(uri: str, table: dict[str, date], what: str, own_allowed: bool) -> str | None:
    found = PREBUILT.match(uri)
    if found is None:
        return None if own_allowed else f"not a prebuilt {what} image: {uri}"
    ends = table.get(found.group("path"))
    if ends is None and what == "training" and OTHER_FRAMEWORKS.fullmatch(found.group("path")):
        return None
    if ends is None:
        return f"no such prebuilt {what} image: {uri}"
    if today() > ends:
        return f"the prebuilt {what} image {uri} reached its end of availability on {ends}"
    return None


def machine_problem(pool: dict[str, Any], index: int) -> str | None:
    spec = pool.get("machineSpec") or {}
    machine = str(spec.get("machineType", ""))
    if machine not in MACHINES:
        return f"workerPoolSpecs[{index}]: machine type {machine} is not offered for training"
    accelerator = spec.get("acceleratorType") or None
    tpu = accelerator in TPU_TYPES
    if tpu != (machine == "cloud-tpu"):
        return f"workerPoolSpecs[{index}]: cloud-tpu goes with TPU_V2 or TPU_V3, and only them"
    if tpu and int(spec.get("acceleratorCount", 0)) != 8:
        return f"workerPoolSpecs[{index}]: a TPU VM has 8 cores"
    wrong = gpus.problem(machine, accelerator, int(spec.get("acceleratorCount", 0)))
    return f"workerPoolSpecs[{index}]: {wrong}" if wrong else None


def environment(pools: list[dict[str, Any]], base: str, trial: str | None) -> dict[str, str]:
    """What Vertex sets for the chief (https://cloud.google.com/vertex-ai/docs/training/
    code-requirements#environment-variables and .../distributed-training): AIP_* under
    the job's (the trial's) base output directory, CLUSTER_SPEC always (its pools named
    workerpool0..3, the trial in task.trial), TF_CONFIG only when there is more than
    one replica."""
    if trial is not None:
        base = f"{base.rstrip('/')}/{trial}/"
    env = {
        "AIP_MODEL_DIR": f"{base}model/",
        "AIP_CHECKPOINT_DIR": f"{base}checkpoints/",
        "AIP_TENSORBOARD_LOG_DIR": f"{base}logs/",
    }
    cluster = {
        f"workerpool{i}": [f"workerpool{i}-{r}:2222" for r in range(int(p.get("replicaCount", 1)))]
        for i, p in enumerate(pools)
        if p
    }
    task: dict[str, Any] = {"type": "workerpool0", "index": 0}
    if trial is not None:
        task["trial"] = trial
    env["CLUSTER_SPEC"] = json.dumps({"cluster": cluster, "task": task})
    if sum(len(hosts) for hosts in cluster.values()) > 1:
        roles = ("chief", "worker", "ps", "evaluator")
        tf_cluster = {
            roles[i]: cluster[f"workerpool{i}"] for i in range(4) if f"workerpool{i}" in cluster
        }
        tf_task: dict[str, Any] = {"type": "chief", "index": 0}
        if trial is not None:
            tf_task["trial"] = trial
        env["TF_CONFIG"] = json.dumps({"cluster": tf_cluster, "task": tf_task})
    return env
