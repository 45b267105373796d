"""Vertex AI's profile: Google's tier table, the image and machine catalogue, settings."""

from __future__ import annotations

from types import MappingProxyType

from reconciler.backends.google import prices
from reconciler.backends.google import settings as google_settings
from reconciler.backends.google.explains import TENSORBOARD_LOGDIR, kept_elsewhere
from reconciler.backends.google.tiers import compile_pools
from reconciler.backends.google.vertex import catalogue
from reconciler.backends.google.vertex.images import (
    describe,
    machine_problem,
    serving_machine_verdict,
    serving_verdict,
    training_verdict,
)
from reconciler.backends.profile import Missing, Profile, searches
from reconciler.stack.resources import StackSettings


def settings_problem(settings: StackSettings) -> str | None:
    return google_settings.problem("vertex", settings.backend_settings)


PROFILE = Profile(
    name="vertex",
    title="Vertex AI (aiplatform v1)",
    compile_pools=compile_pools,
    prices=prices.VERTEX,
    explains=kept_elsewhere(
        "Vertex AI",
        logs="gcloud ai custom-jobs stream-logs JOB_ID --region REGION",
        summaries="AIP_TENSORBOARD_LOG_DIR",
        tensorboard=f"open them in a Vertex AI TensorBoard instance, or {TENSORBOARD_LOGDIR}",
        serves="endpoint",
        predict="send requests to the endpoint (gcloud ai endpoints predict)",
    ),
    job_metrics=Missing(
        "Vertex AI keeps no metric of a custom job: only the trials of a tuning job "
        "have measurements (Trial.finalMeasurement)",
        "gate a version of a tuning job on its metric (the best trial's final measurement)",
    ),
    settings_problem=settings_problem,
    default_runtime=catalogue.DEFAULT_RUNTIME,
    training_check=training_verdict,
    serving_check=serving_verdict,
    serving_machine_check=serving_machine_verdict,
    machine_problem=machine_problem,
    runs_images=True,
    describe_image=describe,
    # bodies.study_spec asks for it (StudySpec.decayCurveStoppingSpec).
    search_phrases=MappingProxyType(searches("early stopping by the decay-curve rule")),
)
