"""The desired state: each live-backed resource's identity, live name and labels.

A resource's *essence* is its normalised spec with defaults filled and
references replaced by the referenced resource's identity; its hash is the
sha256 of the essence's canonical JSON. Labels, descriptions and ``default``
are not identity: they are *mutable* fields, updated in place. *Details*
(per-file lists) explain changes but are summarised by digests in the essence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.identity.canonical import digest, short
from reconciler.identity.content import (
    Fingerprint,
    RemoteLister,
    data_fingerprint,
    trainer_fingerprint,
)
from reconciler.identity.hashcache import HashCache
from reconciler.identity.tiers import resolve_machines
from reconciler.stack.resources import (
    LABEL_HASH,
    LABEL_KIND,
    LABEL_NAME,
    LABEL_PROTECTED,
    LABEL_STACK,
    Kind,
    Model,
    ModelVersion,
    Stack,
    Trainer,
    TrainingJob,
    Tuning,
)


@dataclass(frozen=True)
class DesiredResource:
    address: str
    kind: Kind
    name: str
    """The manifest's metadata.name."""
    live_name: str
    """The name of the live resource: ``taxifare_dnn_1a2b3c4d`` for a job."""
    hash: str
    """The short identity hash."""
    essence: Mapping[str, Any]
    mutable: Mapping[str, Any]
    details: Mapping[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    prevent_destroy: bool = False

    def live_labels(self, stack: str) -> dict[str, str]:
        """Every label the live resource carries: the user's and mlapply's own."""
        labels = dict(self.mutable.get("labels", {}))
        labels.update(
            {
                LABEL_STACK: stack,
                LABEL_NAME: self.name,
                LABEL_KIND: self.kind.value.lower(),
                LABEL_HASH: self.hash,
            }
        )
        if self.prevent_destroy:
            labels[LABEL_PROTECTED] = "true"
        return labels


@dataclass(frozen=True)
class DesiredState:
    stack: Stack
    resources: Mapping[str, DesiredResource]
    digest: str
    """Digest of everything declared: a saved plan is stale when it changes."""


def id_name(name: str) -> str:
    """A manifest name as a Cloud ML Engine id: ``taxifare-dnn`` -> ``taxifare_dnn``."""
    return name.replace("-", "_")


def job_live_name(name: str, hash_: str, attempt: int = 1) -> str:
    base = f"{id_name(name)}_{hash_}"
    return base if attempt <= 1 else f"{base}_{attempt}"


def compute_desired(
    stack: Stack, cache: HashCache, remote: RemoteLister | None = None
) -> DesiredState:
    """Fingerprint sources and data (reading files, running nothing) and hash every resource.

    ``remote`` lists gs:// objects for the data fingerprints (a cloud backend's)."""
    backend = stack.settings.backend
    trainer_prints = {
        name: trainer_fingerprint(t.source, cache) if t.source else None
        for name, t in stack.trainers.items()
    }
    data_prints: dict[str, dict[str, Fingerprint]] = {}
    for name, dataset in stack.datasets.items():
        sides = {"train": dataset.train, "eval": dataset.eval}
        data_prints[name] = {
            side: data_fingerprint(dataset, patterns, cache, remote)
            for side, patterns in sides.items()
            if patterns
        }

    resources: dict[str, DesiredResource] = {}
    for job in stack.jobs.values():
        trainer = stack.trainers[job.trainer]
        prints = data_prints.get(job.dataset, {}) if job.dataset else {}
        source = trainer_prints[job.trainer]
        essence = _job_essence(job, trainer, source, prints, stack)
        hash_ = short(digest(essence))
        details: dict[str, Any] = {
            # Shared, not copied: every job of a trainer has the same file list.
            "trainer_files": source.files if source else {},
            "data_files": {side: p.files for side, p in prints.items()},
        }
        resources[job.address] = DesiredResource(
            address=job.address,
            kind=Kind.TRAINING_JOB,
            name=job.meta.name,
            live_name=job_live_name(job.meta.name, hash_),
            hash=hash_,
            essence=essence,
            mutable={"labels": dict(job.meta.labels)},
            details=details,
            depends_on=(),
            prevent_destroy=job.meta.prevent_destroy,
        )
    for model in stack.models.values():
        resources[model.address] = _model(model)
    for version in stack.versions.values():
        resources[version.address] = _version(version, stack, resources)

    everything = {
        "stack": stack.name,
        "backend": backend,
        "resources": {
            a: {"essence": r.essence, "mutable": r.mutable, "protected": r.prevent_destroy}
            for a, r in resources.items()
        },
    }
    return DesiredState(stack, resources, digest(everything))


def _job_essence(
    job: TrainingJob,
    trainer: Trainer,
    source: Fingerprint | None,
    data: Mapping[str, Fingerprint],
    stack: Stack,
) -> dict[str, Any]:
    settings = stack.settings
    flags = trainer.flags
    return {
        "trainer": {
            "source": source.digest if source else None,
            "packageUris": list(trainer.package_uris),
            "module": trainer.module,
            "flags": {
                "train": flags.train,
                "eval": flags.eval,
                "output": flags.output,
                "jobDir": flags.job_dir,
            },
        },
        "data": {
            side: {"fingerprint": p.mode, "digest": p.digest, "patterns": list(p.patterns)}
            for side, p in data.items()
        },
        "hyperparameters": dict(job.hyperparameters),
        "args": list(job.args),
        "scaleTier": job.scale_tier,
        "machines": resolve_machines(
            job.scale_tier, job.machines, settings.backend, settings.local
        ),
        "region": job.region,
        "runtimeVersion": job.runtime_version,
        "pythonVersion": job.python_version,
        "outputDir": job.output_dir,
        "hyperparameterTuning": _tuning(job.tuning),
    }


def _tuning(tuning: Tuning | None) -> dict[str, Any] | None:
    if tuning is None:
        return None
    return {
        "goal": tuning.goal,
        "metric": tuning.metric,
        "maxTrials": tuning.max_trials,
        "maxParallelTrials": tuning.max_parallel_trials,
        "maxFailedTrials": tuning.max_failed_trials,
        "algorithm": tuning.algorithm,
        "enableEarlyStopping": tuning.early_stopping,
        "params": [
            {
                "name": p.name,
                "type": p.type,
                "min": p.min,
                "max": p.max,
                "values": list(p.values),
                "scale": p.scale,
            }
            for p in tuning.params
        ],
    }


def _model(model: Model) -> DesiredResource:
    essence = {"region": model.region, "onlinePredictionLogging": model.online_prediction_logging}
    return DesiredResource(
        address=model.address,
        kind=Kind.MODEL,
        name=model.meta.name,
        live_name=id_name(model.meta.name),
        hash=short(digest(essence)),
        essence=essence,
        mutable={"labels": dict(model.meta.labels), "description": model.description},
        prevent_destroy=model.meta.prevent_destroy,
    )


def _version(
    version: ModelVersion, stack: Stack, resources: Mapping[str, DesiredResource]
) -> DesiredResource:
    source: dict[str, Any]
    depends = [stack.models[version.model].address]
    if version.source.job:
        job = resources[stack.jobs[version.source.job].address]
        source = {"job": job.live_name, "exportPath": version.source.export_path}
        depends.append(job.address)
    else:
        source = {"uri": version.source.uri}
    scaling = version.scaling
    essence = {
        "model": id_name(version.model),
        "source": source,
        "runtimeVersion": version.runtime_version,
        "pythonVersion": version.python_version,
        "framework": version.framework,
        "machineType": version.machine_type,
        "scaling": {
            "minNodes": scaling.min_nodes,
            "maxNodes": scaling.max_nodes,
            "nodes": scaling.nodes,
        },
    }
    hash_ = short(digest(essence))
    return DesiredResource(
        address=version.address,
        kind=Kind.MODEL_VERSION,
        name=version.meta.name,
        live_name=f"{id_name(version.meta.name)}_{hash_}",
        hash=hash_,
        essence=essence,
        mutable={
            "labels": dict(version.meta.labels),
            "description": version.description,
            "default": version.default,
        },
        depends_on=tuple(depends),
        prevent_destroy=version.meta.prevent_destroy,
    )
