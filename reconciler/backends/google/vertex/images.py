"""Which image a Vertex AI job or version runs, and whether Vertex still offers it.

The driver picks a prebuilt image from the catalogue when the manifests name
none; validate checks both the picked and the chosen ones against their end
of availability (a warning within 90 days, an error after), naming what to
set instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, timedelta

from reconciler.backends.compiled import CompiledJob, Pool
from reconciler.backends.google.machines import machine_check
from reconciler.backends.google.vertex import catalogue, gpus
from reconciler.backends.google.vertex.catalogue import Image
from reconciler.backends.profile import TrainingCheck, Verdict, today
from reconciler.diagnostics import MlapplyError
from reconciler.stack.resources import ServingContainer

WARN_BEFORE = timedelta(days=90)

CONTAINER_HINT = (
    "set spec.container.image (on the Trainer or the TrainingJob) to an image with "
    "TensorFlow and your trainer package installed (see the README, Vertex AI)"
)


def serving_hint(day: date) -> str:
    """What to set instead, naming only runtimes whose image lasts past the warning."""
    lasting = sorted(
        {i.runtime for i in catalogue.PREDICTION if i.ends - day > WARN_BEFORE}, reverse=True
    )
    own = (
        "servingContainer: {server: tensorflow-serving, image: <TensorFlow Serving mirrored "
        "into your Artifact Registry>} on the version, or once in the Stack's spec.defaults "
        "(README: Vertex AI, serving after the prebuilt images)"
    )
    if not lasting:
        return f"set {own}: no prebuilt TensorFlow serving image lasts past {day + WARN_BEFORE}"
    served = ", ".join(lasting)
    return f"set spec.runtimeVersion to one Vertex AI can serve ({served}), or set {own}"


REGISTRIES = re.compile(r"([a-z0-9-]+-docker\.pkg\.dev|([a-z]+\.)?gcr\.io)/.+")
"""Where Vertex AI takes a serving image from: "This URI must identify an image in
Artifact Registry or Container Registry" (ModelContainerSpec.imageUri, aiplatform v1
discovery document revision 20261106, checked 2026-12-07)."""


def geography(region: str) -> str:
    return next((geo for geo in catalogue.GEOGRAPHIES if region.startswith(geo)), "us")


def kind_of(pools: Sequence[Pool]) -> str:
    """``tpu``, ``gpu`` or ``cpu``: the kind of image a job's machines need."""
    kinds = {p.accelerator.type.split("_")[0] for p in pools if p.accelerator is not None}
    if "TPU" in kinds:
        return "tpu"
    return "gpu" if "NVIDIA" in kinds else "cpu"


def _prebuilt(table: Sequence[Image], runtime: str, kind: str) -> Image | None:
    return next((i for i in table if i.runtime == runtime and i.kind == kind), None)


def lookup(table: Sequence[Image], uri: str) -> Image | None:
    """A catalogue image by any of its URIs."""
    return next(
        (i for i in table for geo in catalogue.GEOGRAPHIES if i.uri(geo) == uri),
        None,
    )


def _ending(image: Image, uri: str, day: date, source: str, instead: str) -> Verdict | None:
    if day > image.ends:
        return Verdict(
            f"{uri} reached its end of availability on {image.ends.isoformat()}: "
            "Vertex AI no longer runs it",
            f"{instead} (catalogue: {source}, checked {catalogue.CHECKED})",
        )
    if image.ends - day <= WARN_BEFORE:
        return Verdict(
            f"{uri} reaches its end of availability on {image.ends.isoformat()}",
            f"before then, {instead}",
            error=False,
        )
    return None


def training_verdict(check: TrainingCheck) -> Verdict | None:
    """Whether a job's image can run on Vertex AI today (validate)."""
    chosen = check.image
    if chosen is not None and chosen.container:
        found = lookup(catalogue.TRAINING, chosen.container)
        if found is None:
            return None  # the user's own image: nothing to check against
        return _ending(
            found, chosen.container, check.today, catalogue.TRAINING_SOURCE, "choose another"
        )
    kind = kind_of(check.pools)
    if chosen is not None and chosen.executor:
        found = lookup(catalogue.TRAINING, chosen.executor)
        if found is None and catalogue.PREBUILT_TRAINING.fullmatch(chosen.executor):
            return Verdict(
                f"{chosen.executor} is one of Google's prebuilt training images that "
                "mlapply's catalogue does not list (another framework, or newer than "
                f"{catalogue.CHECKED}): its end of availability is not checked",
                f"see {catalogue.TRAINING_SOURCE} for its dates",
                error=False,
            )
        if found is None:
            return Verdict(
                f"{chosen.executor} is not one of Vertex AI's prebuilt training images, "
                "and only those run a Python package (PythonPackageSpec.executorImageUri)",
                "to run your own image, set spec.container.image instead of "
                f"spec.executorImage (prebuilt images: {catalogue.TRAINING_SOURCE})",
            )
        return _ending(
            found, chosen.executor, check.today, catalogue.TRAINING_SOURCE, CONTAINER_HINT
        )
    found = _prebuilt(catalogue.TRAINING, check.runtime, kind)
    if found is None or check.python != catalogue.TRAINING_PYTHON:
        return Verdict(
            f"Vertex AI has no prebuilt TensorFlow {kind.upper()} training image for "
            f"runtimeVersion {check.runtime} with Python {check.python}",
            CONTAINER_HINT,
        )
    uri = found.uri("us")
    return _ending(
        found,
        f"the prebuilt image for {check.runtime} ({uri})",
        check.today,
        catalogue.TRAINING_SOURCE,
        CONTAINER_HINT,
    )


def serving_verdict(runtime: str, container: ServingContainer | None, day: date) -> Verdict | None:
    if container is not None:
        found = lookup(catalogue.PREDICTION, container.image)
        if found is None and not REGISTRIES.fullmatch(container.image):
            return Verdict(
                f"{container.image} is not in Artifact Registry or Container Registry, and "
                "Vertex AI serves only images from there",
                "mirror it into your Artifact Registry (docker pull, docker tag "
                "REGION-docker.pkg.dev/PROJECT/REPO/NAME:TAG, docker push) and name that",
            )
        if found is None:
            return None
        return _ending(found, container.image, day, catalogue.PREDICTION_SOURCE, serving_hint(day))
    found = _prebuilt(catalogue.PREDICTION, runtime, "cpu")
    if found is None:
        return Verdict(
            f"Vertex AI has no prebuilt TensorFlow prediction image for runtimeVersion {runtime}",
            f"{serving_hint(day)} (catalogue: {catalogue.PREDICTION_SOURCE}, checked "
            f"{catalogue.CHECKED})",
        )
    return _ending(
        found,
        f"the prebuilt serving image for {runtime} ({found.uri('us')})",
        day,
        catalogue.PREDICTION_SOURCE,
        serving_hint(day),
    )


def serving_machine_verdict(machine: str) -> Verdict | None:
    """ML Engine's legacy MLS1 prediction machines: Vertex has none (the version
    serves on the default machine instead)."""
    if not machine.startswith(catalogue.LEGACY_PREDICTION_MACHINES):
        return None
    return Verdict(
        f"{machine} is one of ML Engine's legacy (MLS1) machine types, which Vertex AI "
        f"does not have: the version serves on {catalogue.DEFAULT_PREDICTION_MACHINE}",
        f"set spec.machineType to a Compute Engine type, such as "
        f"{catalogue.DEFAULT_PREDICTION_MACHINE} (https://cloud.google.com/vertex-ai/docs/"
        "predictions/configure-compute)",
        error=False,
    )


_offered = machine_check(
    "Vertex AI",
    catalogue.TRAINING_MACHINES,
    catalogue.ACCELERATORS,
    f"machine types: {catalogue.MACHINES_SOURCE}, checked {catalogue.CHECKED}",
)


def machine_problem(pool: Pool) -> str | None:
    """Why Vertex AI training cannot give a pool its machines, or None."""
    problem = _offered(pool)
    if problem is not None or pool.machine_type is None:
        return problem
    accelerator = pool.accelerator
    tpu = accelerator is not None and accelerator.type.startswith("TPU")
    if tpu != (pool.machine_type == catalogue.TPU_MACHINE):
        return (
            f"a TPU runs on machine type {catalogue.TPU_MACHINE} with {catalogue.TPU_CORES} "
            "TPU_V2 or TPU_V3 cores, and that machine type only with a TPU"
        )
    return gpus.problem(
        pool.machine_type,
        accelerator.type if accelerator else None,
        accelerator.count if accelerator else 0,
    )


def describe(job: CompiledJob) -> str | None:
    """The image a job runs, for the plan."""
    image = job.image
    if image is not None and image.container:
        return f"runs container {image.container}"
    if image is not None and image.executor:
        return f"runs its package on {image.executor}"
    found = _prebuilt(catalogue.TRAINING, job.runtime_version, kind_of(job.pools))
    if found is None:
        return None
    return f"runs its package on Google's prebuilt image {found.uri(geography(job.region))}"


def training_image(runtime: str, kind: str, region: str) -> str:
    """The prebuilt image a Python package job runs when the manifests name none."""
    found = _prebuilt(catalogue.TRAINING, runtime, kind)
    if found is None:
        raise MlapplyError(
            f"Vertex AI has no prebuilt TensorFlow {kind.upper()} training image for "
            f"runtimeVersion {runtime}",
            CONTAINER_HINT,
        )
    return found.uri(geography(region))


def prediction_image(runtime: str, gpu: bool, region: str) -> str:
    found = _prebuilt(catalogue.PREDICTION, runtime, "gpu" if gpu else "cpu")
    if found is None:
        raise MlapplyError(
            f"Vertex AI has no prebuilt TensorFlow prediction image for runtimeVersion {runtime}",
            serving_hint(today()),
        )
    return found.uri(geography(region))
