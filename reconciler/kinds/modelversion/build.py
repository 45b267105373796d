"""A ModelVersion document as its record, and the checks the schema cannot make: its
scaling, the image it would serve from, its gate against what its source can
report, and one default version per model."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from reconciler.backends import registry
from reconciler.backends.facets import Facet
from reconciler.backends.profile import Profile, today
from reconciler.stack.build import BuildContext, Reference, parse_duration
from reconciler.stack.resources import (
    DEFAULT_MACHINE_TYPE,
    Gate,
    Meta,
    Model,
    ModelVersion,
    Rollout,
    RolloutGates,
    RolloutStep,
    Scaling,
    ServingContainer,
    TrainingJob,
    VersionSource,
)

if TYPE_CHECKING:
    from reconciler.manifests import LoadedDocument

MUTABLE = ("labels", "description", "default")
UPDATABLE = frozenset(MUTABLE)
"""What the backend can change in place; anything else is a new version."""
DEFAULT_HOLD = "5m"
DEFAULT_MIN_REQUESTS = 100
"""A rollout step's defaults (the schema documents them)."""


def build(ctx: BuildContext, loaded: LoadedDocument, meta: Meta) -> ModelVersion:
    settings = ctx.stack_settings()
    spec = loaded.doc.data["spec"]
    source = spec["source"]
    job: TrainingJob | None = ctx.built[TrainingJob.kind].get(source.get("job", ""))
    runtime = job.runtime_version if job else settings.runtime_version
    python = job.python_version if job else settings.python_version
    scaling = spec.get("scaling", {})
    if "nodes" in scaling:
        scale = Scaling(min_nodes=None, max_nodes=None, nodes=scaling["nodes"])
    else:
        scale = Scaling(min_nodes=scaling.get("minNodes", 1), max_nodes=scaling.get("maxNodes"))
        if scale.max_nodes is not None and (scale.min_nodes or 0) > scale.max_nodes:
            ctx.report(
                f"scaling: minNodes {scale.min_nodes} is more than maxNodes {scale.max_nodes}",
                loaded.doc.at(("spec", "scaling", "minNodes")),
            )
    runtime = spec.get("runtimeVersion", runtime)
    profile = registry.profile(settings.backend)
    own = spec.get("servingContainer")
    container = ServingContainer.parse(own) if own else settings.serving_container
    verdict = profile.serving_check(runtime, container, today())
    if verdict is not None:
        key = (
            ("servingContainer", "image")
            if own
            else ("runtimeVersion",)
            if "runtimeVersion" in spec
            else ("source",)
        )
        where = loaded.doc.at(("spec", *key))
        if container is not None and not own and settings.serving_container_at is not None:
            where = settings.serving_container_at  # the Stack's default, said where it is
        (ctx.report if verdict.error else ctx.warn)(verdict.message, where, verdict.hint)
    machine = spec.get("machineType", DEFAULT_MACHINE_TYPE)
    machine_verdict = profile.serving_machine_check(machine)
    if machine_verdict is not None:
        at = ("spec", "machineType") if "machineType" in spec else ("spec",)
        (ctx.report if machine_verdict.error else ctx.warn)(
            machine_verdict.message, loaded.doc.at(at), machine_verdict.hint
        )
    gate = _gate(ctx, loaded, spec, job, profile) if "gate" in spec else None
    rollout = _rollout(ctx, loaded, spec) if "rollout" in spec else None
    return ModelVersion(
        meta=meta,
        model=spec["model"],
        source=VersionSource(
            source.get("job"),
            source.get("exportPath"),
            source.get("uri"),
            loaded.file.path.parent,
        ),
        default=spec.get("default", False),
        description=spec.get("description", ""),
        runtime_version=runtime,
        python_version=spec.get("pythonVersion", python),
        framework=spec.get("framework", "TENSORFLOW"),
        machine_type=machine,
        scaling=scale,
        serving_container=container,
        gate=gate,
        rollout=rollout,
    )


def references(version: ModelVersion) -> Iterable[Reference]:
    yield Reference(("spec", "model"), Model.kind, version.model)
    if version.source.job:
        yield Reference(("spec", "source", "job"), TrainingJob.kind, version.source.job)


def check(ctx: BuildContext) -> None:
    """A model has at most one default version."""
    first_default: dict[str, str] = {}
    for name, version in ctx.built[ModelVersion.kind].items():
        if not version.default:
            continue
        if version.model in first_default:
            other = first_default[version.model]
            ctx.report(
                f'model "{version.model}" has two default versions: "{other}" and "{name}"',
                ctx.documents[ModelVersion.kind][name].doc.at(("spec", "default")),
                "a model has at most one default version: set default: true on one only",
            )
        else:
            first_default[version.model] = name


def _gate(
    ctx: BuildContext,
    loaded: LoadedDocument,
    spec: Mapping[str, Any],
    job: TrainingJob | None,
    profile: Profile,
) -> Gate | None:
    """The gate, checked against what its source can report."""
    given, at = spec["gate"], ("spec", "gate")
    metric = given["metric"]
    tuning = job.tuning if job is not None else None
    if job is None and "uri" in spec["source"]:
        ctx.report(
            "a gate reads the metric a job reported, and a version from source.uri has no job",
            loaded.doc.key_at(at),
            "deploy from source.job, or remove the gate",
        )
        return None
    if tuning is not None and metric != tuning.metric:
        ctx.report(
            f'the gate\'s metric "{metric}" is not what tuning job {job.meta.name if job else ""} '
            f"reports: its trials are measured by {tuning.metric}",
            loaded.doc.at((*at, "metric")),
            f"gate on {tuning.metric}",
        )
        return None
    missing = profile.job_metrics
    if tuning is None and job is not None and missing is not None:
        ctx.report(
            f"backend {profile.name} cannot gate on {metric}: {missing.why}",
            loaded.doc.key_at(at),
            missing.instead,
        )
        return None
    goal = given.get("goal", tuning.goal if tuning is not None else None)
    if goal is None:
        ctx.report(
            f"the gate does not say whether {metric} should be large or small",
            loaded.doc.key_at(at),
            f"add goal: MINIMIZE (smaller {metric} is better) or goal: MAXIMIZE",
        )
        return None
    if tuning is not None and goal != tuning.goal:
        ctx.report(
            f"the gate's goal {goal} contradicts tuning job {job.meta.name if job else ''}'s "
            f"{tuning.goal} of {metric}",
            loaded.doc.at((*at, "goal")),
            "use the tuning job's goal, or leave goal out",
        )
        return None
    threshold = given.get("threshold")
    return Gate(
        metric=metric,
        goal=goal,
        threshold=float(threshold) if threshold is not None else None,
        must_beat_default=given.get("mustBeatDefault", False),
    )


def _rollout(ctx: BuildContext, loaded: LoadedDocument, spec: Mapping[str, Any]) -> Rollout | None:
    """The rollout: steps that rise to 100 %, on a default version, on a backend that
    splits traffic."""
    given, at = spec["rollout"], ("spec", "rollout")
    backend = ctx.stack_settings().backend
    if not registry.provides(backend, Facet.TRAFFIC):
        refused = registry.refusal(backend, Facet.TRAFFIC)
        ctx.report(
            f"backend {backend} cannot roll out in steps: {refused.message}",
            loaded.doc.key_at(at),
            refused.hint,
        )
        return None
    if not spec.get("default", False):
        ctx.report(
            "a rollout moves a model's traffic to its new default version, and this version "
            "is not the default",
            loaded.doc.key_at(at),
            "add default: true, or remove spec.rollout",
        )
        return None
    steps: list[RolloutStep] = []
    for index, step in enumerate(given["steps"]):
        traffic = step["traffic"]
        if steps and traffic <= steps[-1].traffic:
            ctx.report(
                f"rollout step {index + 1} sends {traffic} % of the traffic, no more than the "
                f"step before ({steps[-1].traffic} %)",
                loaded.doc.at((*at, "steps", index, "traffic")),
                "each step sends the new version more traffic than the one before",
            )
            return None
        steps.append(RolloutStep(traffic, parse_duration(step.get("hold", DEFAULT_HOLD))))
    if steps[-1].traffic != 100:
        ctx.report(
            f"the last rollout step sends {steps[-1].traffic} % of the traffic: a rollout "
            "ends with the version taking all of it",
            loaded.doc.at((*at, "steps", len(steps) - 1, "traffic")),
            "end the steps with traffic: 100",
        )
        return None
    gates = given.get("gates", {})
    return Rollout(
        tuple(steps),
        RolloutGates(
            max_error_rate=gates.get("maxErrorRate"),
            max_latency_ms=tuple(
                (name, float(limit))
                for name, limit in sorted(gates.get("maxLatencyMs", {}).items())
            ),
            min_requests=gates.get("minRequests", DEFAULT_MIN_REQUESTS),
        ),
    )
