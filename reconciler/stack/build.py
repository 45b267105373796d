"""From schema-valid documents to a typed Stack, with the checks a schema cannot make.

Checks, all reported together: exactly one Stack; duplicate names; references
to missing names or to the wrong kind; dependency cycles; CUSTOM tier versus
machines; tuning specs the APIs would reject; trainer sources that do not
exist or leave the repository; hyperparameters that clash with the trainer's
own flags; reserved or too many labels; two default versions of one model.
Reads the file system (paths exist, globs match) but never runs user code.
"""

from __future__ import annotations

import glob
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.diagnostics import (
    Diagnostic,
    Location,
    did_you_mean,
    error,
    has_errors,
    warning,
)
from reconciler.gcpause import paused_gc
from reconciler.manifests import LoadedDocument, Manifests, VariableInputs, load_manifests
from reconciler.stack import graph
from reconciler.stack.resources import (
    DEFAULT_MACHINE_TYPE,
    DEFAULT_MODULE,
    DEFAULT_PYTHON_VERSION,
    DEFAULT_REGION,
    DEFAULT_RUNTIME_VERSION,
    DEFAULT_SCALE_TIER,
    DEFAULT_TIMEOUT_SECONDS,
    KIND_ORDER,
    MAX_LABELS,
    RESERVED_LABELS,
    Accelerator,
    Dataset,
    GcpSettings,
    Kind,
    LocalSettings,
    MachineGroup,
    Machines,
    Meta,
    Model,
    ModelVersion,
    Scaling,
    Stack,
    StackSettings,
    Trainer,
    TrainerFlags,
    TrainingJob,
    Tuning,
    TuningParameter,
    VersionSource,
    address,
)
from reconciler.stack.runtimes import (
    VERTEX_PREDICTION,
    prediction_problem,
    training_known,
    training_problem,
)

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MINIMAL_STACK = "apiVersion: mlapply/v1 / kind: Stack / metadata: {name: my-stack}"


@dataclass
class LoadResult:
    """A stack (None when there are errors) and every diagnostic found on the way."""

    stack: Stack | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    manifests: Manifests | None = None

    @property
    def ok(self) -> bool:
        return self.stack is not None and not has_errors(self.diagnostics)


def load_stack(
    paths: Sequence[str], inputs: VariableInputs | None = None, cwd: Path | None = None
) -> LoadResult:
    """Load, validate and build the stack declared under ``paths``. Never raises on bad input."""
    with paused_gc():
        manifests = load_manifests(paths, inputs, cwd)
        builder = _Builder(manifests)
        stack = builder.build()
    diagnostics = _ordered([*manifests.diagnostics, *builder.diagnostics])
    if has_errors(diagnostics):
        stack = None
    return LoadResult(stack, diagnostics, manifests)


def _ordered(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    unique = list(dict.fromkeys(diagnostics))
    return sorted(unique, key=lambda d: (d.location is not None, d.location or Location("")))


def parse_duration(text: str) -> float:
    """Seconds in a schema-valid duration such as ``1h30m``."""
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


def repository_root(folder: Path, fallback: Path) -> Path:
    """The nearest folder holding ``.git`` at or above ``folder``, else ``fallback``."""
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return fallback


class _Builder:
    def __init__(self, manifests: Manifests) -> None:
        self.manifests = manifests
        self.diagnostics: list[Diagnostic] = []
        self.names: dict[tuple[str, str], LoadedDocument] = {}
        self.default_labels: Mapping[str, str] = {}

    def report(self, message: str, where: Location, hint: str | None = None) -> None:
        self.diagnostics.append(error(message, where, hint))

    def build(self) -> Stack | None:
        documents = self.manifests.documents
        self._register_names(documents)
        settings = self._stack_settings(documents)
        datasets: dict[str, Dataset] = {}
        trainers: dict[str, Trainer] = {}
        jobs: dict[str, TrainingJob] = {}
        models: dict[str, Model] = {}
        versions: dict[str, ModelVersion] = {}
        job_docs: dict[str, LoadedDocument] = {}
        version_docs: dict[str, LoadedDocument] = {}
        for loaded in documents:
            if not loaded.valid or loaded.name is None:
                continue
            if self.names.get((loaded.kind or "", loaded.name)) is not loaded:
                continue  # a duplicate, already reported
            data = loaded.doc.data
            meta = self._meta(loaded, settings)
            if loaded.kind == Kind.DATASET.value:
                datasets[meta.name] = self._dataset(loaded, meta)
            elif loaded.kind == Kind.TRAINER.value:
                trainers[meta.name] = self._trainer(loaded, meta)
            elif loaded.kind == Kind.TRAINING_JOB.value:
                jobs[meta.name] = self._job(loaded, meta, settings)
                job_docs[meta.name] = loaded
            elif loaded.kind == Kind.MODEL.value:
                models[meta.name] = self._model(data, meta, settings)
            elif loaded.kind == Kind.MODEL_VERSION.value:
                version_docs[meta.name] = loaded

        for name, loaded in version_docs.items():
            meta = self._meta(loaded, settings)
            versions[name] = self._version(loaded, meta, settings, jobs)
        self._check_trainer_flags(jobs, job_docs, trainers)
        self._check_defaults(versions, version_docs)
        dependencies = self._dependencies(settings, datasets, trainers, jobs, models, versions)
        dependencies = self._check_references(dependencies, job_docs, version_docs)
        cycle = graph.find_cycle(dependencies)
        if cycle is not None:
            self.report("references form a cycle: " + " -> ".join(cycle), settings.meta.location)
            return None
        rank = {kind.prefix: i for i, kind in enumerate(KIND_ORDER)}
        order = graph.topological_order(dependencies, lambda a: (rank[a.split(".", 1)[0]], a))
        return Stack(settings, datasets, trainers, jobs, models, versions, dependencies, order)

    # Names and the Stack ------------------------------------------------------

    def _register_names(self, documents: Sequence[LoadedDocument]) -> None:
        for loaded in documents:
            kind, name = loaded.kind, loaded.name
            if kind is None or name is None:
                continue
            first = self.names.get((kind, name))
            if first is None:
                self.names[(kind, name)] = loaded
            elif kind != Kind.STACK.value:
                self.report(
                    f'duplicate {kind} "{name}" '
                    f"(first declared at {first.doc.at(('metadata', 'name'))})",
                    loaded.doc.at(("metadata", "name")),
                    "names are unique per kind within a stack: rename or remove one",
                )

    def _stack_settings(self, documents: Sequence[LoadedDocument]) -> StackSettings:
        """The Stack's settings; placeholders when it is missing or invalid.

        Placeholders let every other document still be checked; the errors
        already reported keep the result from being used.
        """
        stacks = [d for d in documents if d.kind == Kind.STACK.value]
        if not stacks and documents:
            self.report(
                "no Stack document found",
                documents[0].doc.location,
                "add one, e.g. a stack.yaml with: " + _MINIMAL_STACK,
            )
        for extra in stacks[1:]:
            self.report(
                f"more than one Stack (the first is at {stacks[0].doc.location})",
                extra.doc.location,
                "a set of manifests declares exactly one Stack",
            )
        loaded = stacks[0] if stacks and stacks[0].valid else None
        spec = loaded.doc.data.get("spec", {}) if loaded else {}
        defaults = spec.get("defaults", {})
        gcp_spec = spec.get("gcp")
        gcp = None
        if gcp_spec is not None:
            gcp = GcpSettings(
                gcp_spec.get("project"),
                gcp_spec.get("region"),
                gcp_spec.get("stagingBucket"),
                gcp_spec.get("serviceAccount"),
            )
        local_spec = spec.get("local", {})
        replicas = local_spec.get("replicas", {})
        root = loaded.file.path.parent if loaded else Path.cwd()
        local = LocalSettings(
            home=(root / local_spec.get("home", ".mlapply")).resolve(),
            workers=replicas.get("workers", 2),
            parameter_servers=replicas.get("parameterServers", 2),
            evaluators=replicas.get("evaluators", 0),
        )
        region = defaults.get("region") or (gcp.region if gcp else None) or DEFAULT_REGION
        if loaded is not None:
            meta = self._meta(loaded, None)
        else:
            meta = Meta("invalid", {}, False, Location(""))
        self.default_labels = defaults.get("labels", {})
        return StackSettings(
            meta=meta,
            backend=spec.get("backend", "local"),
            root=root,
            local=local,
            gcp=gcp,
            region=region,
            runtime_version=defaults.get("runtimeVersion", DEFAULT_RUNTIME_VERSION),
            python_version=defaults.get("pythonVersion", DEFAULT_PYTHON_VERSION),
            scale_tier=defaults.get("scaleTier", DEFAULT_SCALE_TIER),
        )

    def _meta(self, loaded: LoadedDocument, settings: StackSettings | None) -> Meta:
        data = loaded.doc.data
        own = data["metadata"].get("labels", {})
        labels = {**(self.default_labels if settings is not None else {}), **own}
        for key in own:
            if key in RESERVED_LABELS:
                self.report(
                    f'label "{key}" is reserved by mlapply',
                    loaded.doc.key_at(("metadata", "labels", key)),
                    "mlapply sets " + ", ".join(RESERVED_LABELS) + " itself: use another key",
                )
        if len(labels) > MAX_LABELS:
            self.report(
                f"{len(labels)} labels with the stack's default labels; at most {MAX_LABELS}",
                loaded.doc.at(("metadata", "labels")),
                "a cloud resource carries at most 64 labels and mlapply reserves "
                f"{len(RESERVED_LABELS)}",
            )
        prevent = bool(data.get("lifecycle", {}).get("preventDestroy", False))
        return Meta(data["metadata"]["name"], labels, prevent, loaded.doc.location)

    # Kinds ------------------------------------------------------------------------

    def _dataset(self, loaded: LoadedDocument, meta: Meta) -> Dataset:
        spec = loaded.doc.data["spec"]
        base = loaded.file.path.parent
        train, evaluation = _as_tuple(spec["train"]), _as_tuple(spec.get("eval", []))
        for key, patterns in (("train", train), ("eval", evaluation)):
            for i, pattern in enumerate(patterns):
                if pattern.startswith("gs://"):
                    continue
                if not glob.glob(str(base / pattern), recursive=True):
                    path = ("spec", key) if isinstance(spec[key], str) else ("spec", key, i)
                    self.diagnostics.append(
                        warning(
                            f'{".".join(map(str, path))}: "{pattern}" matches no files yet',
                            loaded.doc.at(path),
                            "local paths are relative to the manifest file",
                        )
                    )
        return Dataset(meta, train, evaluation, spec.get("fingerprint", "content"), base)

    def _trainer(self, loaded: LoadedDocument, meta: Meta) -> Trainer:
        spec = loaded.doc.data["spec"]
        source = None
        if "source" in spec:
            source = self._trainer_source(loaded, spec["source"])
        flags = spec.get("flags", {})
        defaults = TrainerFlags()
        return Trainer(
            meta=meta,
            source=source,
            package_uris=tuple(spec.get("packageUris", ())),
            module=spec.get("module", DEFAULT_MODULE),
            flags=TrainerFlags(
                train=flags.get("train", defaults.train),
                eval=flags.get("eval", defaults.eval),
                output=flags.get("output", defaults.output),
                job_dir=flags.get("jobDir", defaults.job_dir),
            ),
        )

    def _trainer_source(self, loaded: LoadedDocument, given: str) -> Path | None:
        where = loaded.doc.at(("spec", "source"))
        folder = loaded.file.path.parent
        path = (folder / given).resolve()
        root = repository_root(folder.resolve(), loaded.file.root.resolve())
        if not path.is_relative_to(root):
            self.report(
                f'spec.source: "{given}" is outside the repository ({root})',
                where,
                "a trainer's source must be inside the repository (the folder holding .git, "
                "else the manifests folder) so a plan is reproducible from a checkout",
            )
            return None
        if not path.is_dir():
            self.report(
                f'spec.source: folder "{given}" does not exist',
                where,
                f"the path is relative to the manifest file's folder (it resolved to {path})",
            )
            return None
        return path

    def _job(self, loaded: LoadedDocument, meta: Meta, settings: StackSettings) -> TrainingJob:
        doc = loaded.doc
        spec = doc.data["spec"]
        tier = spec.get("scaleTier", settings.scale_tier)
        machines = None
        if "machines" in spec:
            machines = _machines(spec["machines"])
            if tier != "CUSTOM":
                self.report(
                    "spec.machines is only allowed with scaleTier CUSTOM "
                    f"(this job's tier is {tier})",
                    doc.key_at(("spec", "machines")),
                    "set scaleTier: CUSTOM, or remove spec.machines",
                )
        elif tier == "CUSTOM":
            self.report(
                "scaleTier CUSTOM needs spec.machines",
                doc.at(("spec", "scaleTier")) if "scaleTier" in spec else doc.at(("spec",)),
                "add spec.machines with at least master: {type: n1-standard-4}",
            )
        tuning = None
        if "hyperparameterTuning" in spec:
            tuning = self._tuning(
                loaded, spec["hyperparameterTuning"], spec.get("hyperparameters", {})
            )
        runtime = spec.get("runtimeVersion", settings.runtime_version)
        python = spec.get("pythonVersion", settings.python_version)
        problem = training_problem(runtime, python) if settings.backend == "vertex" else None
        if problem:
            self.report(
                problem,
                doc.at(("spec", "runtimeVersion" if "runtimeVersion" in spec else "pythonVersion")),
                f"set runtimeVersion and pythonVersion (here or in the Stack's defaults) to one "
                f"of: {training_known()}",
            )
        timeout = parse_duration(spec["timeout"]) if "timeout" in spec else DEFAULT_TIMEOUT_SECONDS
        if timeout <= 0:
            self.report("spec.timeout must be longer than 0s", doc.at(("spec", "timeout")))
        return TrainingJob(
            meta=meta,
            trainer=spec["trainer"],
            dataset=spec.get("dataset"),
            hyperparameters=dict(spec.get("hyperparameters", {})),
            args=tuple(spec.get("args", ())),
            scale_tier=tier,
            machines=machines,
            region=spec.get("region", settings.region),
            runtime_version=runtime,
            python_version=python,
            output_dir=spec.get("outputDir"),
            tuning=tuning,
            max_attempts=spec.get("retry", {}).get("maxAttempts", 1),
            timeout_seconds=timeout,
        )

    def _tuning(
        self, loaded: LoadedDocument, spec: Mapping[str, Any], fixed: Mapping[str, Any]
    ) -> Tuning:
        doc = loaded.doc
        base = ("spec", "hyperparameterTuning")
        algorithm = spec.get("algorithm", "BAYESIAN")
        params: list[TuningParameter] = []
        seen: dict[str, int] = {}
        for i, raw in enumerate(spec["params"]):
            path = (*base, "params", i)
            name, kind = raw["name"], raw["type"]
            if name in seen:
                self.report(
                    f'tuning parameter "{name}" is declared twice (first at params[{seen[name]}])',
                    doc.at((*path, "name")),
                    "each tuned parameter appears once",
                )
            seen.setdefault(name, i)
            if name in fixed:
                self.report(
                    f'"{name}" is both a fixed hyperparameter and a tuned parameter',
                    doc.at((*path, "name")),
                    f"remove {name} from spec.hyperparameters, or stop tuning it",
                )
            param = TuningParameter(
                name=name,
                type=kind,
                min=raw.get("min"),
                max=raw.get("max"),
                values=tuple(raw.get("values", ())),
                scale=raw.get("scale"),
            )
            self._check_parameter(doc, path, param, algorithm)
            params.append(param)
        trials = spec.get("maxTrials", 1)
        parallel = spec.get("maxParallelTrials", 1)
        if parallel > trials:
            self.diagnostics.append(
                warning(
                    f"maxParallelTrials ({parallel}) is more than maxTrials ({trials})",
                    doc.at((*base, "maxParallelTrials")),
                    "at most maxTrials trials ever run at once",
                )
            )
        return Tuning(
            metric=spec["metric"],
            params=tuple(params),
            goal=spec.get("goal", "MAXIMIZE"),
            max_trials=trials,
            max_parallel_trials=parallel,
            max_failed_trials=spec.get("maxFailedTrials", 0),
            algorithm=algorithm,
            early_stopping=spec.get("enableEarlyStopping", False),
        )

    def _check_parameter(
        self, doc: Any, path: tuple[str | int, ...], param: TuningParameter, algorithm: str
    ) -> None:
        label = f'tuning parameter "{param.name}"'
        if algorithm == "GRID_SEARCH" and param.type == "DOUBLE":
            self.report(
                f"{label}: GRID_SEARCH cannot search a DOUBLE range",
                doc.at((*path, "type")),
                "use INTEGER, CATEGORICAL or DISCRETE values, or another algorithm",
            )
        if param.min is not None and param.max is not None:
            if param.min > param.max:
                self.report(
                    f"{label}: min {param.min} is more than max {param.max}",
                    doc.at((*path, "min")),
                    "swap them",
                )
            if param.type == "INTEGER" and not (
                float(param.min).is_integer() and float(param.max).is_integer()
            ):
                self.report(
                    f"{label}: an INTEGER range needs whole min and max",
                    doc.at((*path, "min")),
                )
        if param.type == "DISCRETE" and param.values:
            numbers = [float(v) for v in param.values]
            if any(b <= a for a, b in itertools.pairwise(numbers)):
                self.report(
                    f"{label}: DISCRETE values must be strictly increasing",
                    doc.at((*path, "values")),
                    "sort the values and remove repeats",
                )
        if param.scale in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE"):
            low = param.min if param.type != "DISCRETE" else min(map(float, param.values or [0]))
            if low is not None and low <= 0:
                self.report(
                    f"{label}: {param.scale} needs a range above 0 (lowest is {low})",
                    doc.at((*path, "scale")),
                    "use UNIT_LINEAR_SCALE, or a minimum above 0",
                )
        if param.type == "CATEGORICAL" and len(set(param.values)) != len(param.values):
            self.report(f"{label}: CATEGORICAL values repeat", doc.at((*path, "values")))

    def _model(self, data: Mapping[str, Any], meta: Meta, settings: StackSettings) -> Model:
        spec = data.get("spec", {})
        regions = spec.get("regions") or [settings.region]
        return Model(
            meta=meta,
            description=spec.get("description", ""),
            region=regions[0],
            online_prediction_logging=spec.get("onlinePredictionLogging", False),
        )

    def _version(
        self,
        loaded: LoadedDocument,
        meta: Meta,
        settings: StackSettings,
        jobs: Mapping[str, TrainingJob],
    ) -> ModelVersion:
        spec = loaded.doc.data["spec"]
        source = spec["source"]
        job = jobs.get(source.get("job", ""))
        runtime = job.runtime_version if job else settings.runtime_version
        python = job.python_version if job else settings.python_version
        scaling = spec.get("scaling", {})
        if "nodes" in scaling:
            scale = Scaling(min_nodes=None, max_nodes=None, nodes=scaling["nodes"])
        else:
            scale = Scaling(min_nodes=scaling.get("minNodes", 1), max_nodes=scaling.get("maxNodes"))
            if scale.max_nodes is not None and (scale.min_nodes or 0) > scale.max_nodes:
                self.report(
                    f"scaling: minNodes {scale.min_nodes} is more than maxNodes {scale.max_nodes}",
                    loaded.doc.at(("spec", "scaling", "minNodes")),
                )
        runtime = spec.get("runtimeVersion", runtime)
        problem = prediction_problem(runtime) if settings.backend == "vertex" else None
        if problem:
            self.report(
                problem,
                loaded.doc.at(("spec", "runtimeVersion")),
                "set runtimeVersion (here, on its job, or in the Stack's defaults) to one of: "
                + ", ".join(VERTEX_PREDICTION),
            )
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
            machine_type=spec.get("machineType", DEFAULT_MACHINE_TYPE),
            scaling=scale,
        )

    # Cross-document checks -----------------------------------------------------------

    def _check_trainer_flags(
        self,
        jobs: Mapping[str, TrainingJob],
        job_docs: Mapping[str, LoadedDocument],
        trainers: Mapping[str, Trainer],
    ) -> None:
        for name, job in jobs.items():
            trainer = trainers.get(job.trainer)
            if trainer is None:
                continue
            taken = {f.lstrip("-") for f in vars(trainer.flags).values() if f}
            tuned = [p.name for p in job.tuning.params] if job.tuning else []
            for hyper in [*job.hyperparameters, *tuned]:
                if hyper in taken:
                    self.report(
                        f'hyperparameter "{hyper}" repeats a flag mlapply already passes '
                        f'(the trainer "{trainer.meta.name}" takes it for its inputs)',
                        job_docs[name].doc.key_at(("spec", "hyperparameters", hyper)),
                        "mlapply sets the data, output and job-dir flags itself: rename the "
                        "hyperparameter or change spec.flags in the Trainer",
                    )

    def _check_defaults(
        self, versions: Mapping[str, ModelVersion], docs: Mapping[str, LoadedDocument]
    ) -> None:
        first_default: dict[str, str] = {}
        for name, version in versions.items():
            if not version.default:
                continue
            if version.model in first_default:
                other = first_default[version.model]
                self.report(
                    f'model "{version.model}" has two default versions: "{other}" and "{name}"',
                    docs[name].doc.at(("spec", "default")),
                    "a model has at most one default version: set default: true on one only",
                )
            else:
                first_default[version.model] = name

    def _dependencies(
        self,
        settings: StackSettings,
        datasets: Mapping[str, Dataset],
        trainers: Mapping[str, Trainer],
        jobs: Mapping[str, TrainingJob],
        models: Mapping[str, Model],
        versions: Mapping[str, ModelVersion],
    ) -> dict[str, tuple[str, ...]]:
        deps: dict[str, tuple[str, ...]] = {settings.address: ()}
        for group in (datasets, trainers, models):
            for resource in group.values():
                deps[resource.address] = ()
        for job in jobs.values():
            refs = [address(Kind.TRAINER, job.trainer)]
            if job.dataset:
                refs.append(address(Kind.DATASET, job.dataset))
            deps[job.address] = tuple(refs)
        for version in versions.values():
            refs = [address(Kind.MODEL, version.model)]
            if version.source.job:
                refs.append(address(Kind.TRAINING_JOB, version.source.job))
            deps[version.address] = tuple(refs)
        return deps

    def _check_references(
        self,
        dependencies: dict[str, tuple[str, ...]],
        job_docs: Mapping[str, LoadedDocument],
        version_docs: Mapping[str, LoadedDocument],
    ) -> dict[str, tuple[str, ...]]:
        """Report references to missing or wrong-kind names; drop them from the graph."""
        fields = [
            (job_docs, ("spec", "trainer"), Kind.TRAINER),
            (job_docs, ("spec", "dataset"), Kind.DATASET),
            (version_docs, ("spec", "model"), Kind.MODEL),
            (version_docs, ("spec", "source", "job"), Kind.TRAINING_JOB),
        ]
        for docs, path, wanted in fields:
            for loaded in docs.values():
                target = _get(loaded.doc.data, path)
                if target is None or (wanted.value, target) in self.names:
                    continue
                self._missing_reference(loaded, path, wanted, target)
        present = set(dependencies)
        kinds = {k.value: k for k in Kind}
        present.update(address(kinds[k], n) for k, n in self.names if k in kinds)
        return {a: tuple(d for d in deps if d in present) for a, deps in dependencies.items()}

    def _missing_reference(
        self, loaded: LoadedDocument, path: tuple[str, ...], wanted: Kind, target: str
    ) -> None:
        where = loaded.doc.at(path)
        field_name = ".".join(path)
        other_kinds = [k for k, n in self.names if n == target and k != wanted.value]
        if other_kinds:
            self.report(
                f'{field_name}: "{target}" is a {other_kinds[0]}, not a {wanted.value}',
                where,
                f"{field_name} names a {wanted.value}",
            )
            return
        candidates = sorted(n for k, n in self.names if k == wanted.value)
        hint = did_you_mean(target, candidates) if candidates else None
        self.report(
            f'{field_name}: no {wanted.value} named "{target}"',
            where,
            hint or f"declare a {wanted.value} with metadata.name: {target}",
        )


def _as_tuple(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _get(data: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _machine(spec: Mapping[str, Any], count: int | None = None) -> MachineGroup:
    accel = spec.get("accelerator")
    return MachineGroup(
        type=spec["type"],
        count=count if count is not None else spec["count"],
        accelerator=Accelerator(accel["type"], accel.get("count", 1)) if accel else None,
    )


def _machines(spec: Mapping[str, Any]) -> Machines:
    def group(key: str) -> MachineGroup | None:
        found = spec.get(key)
        return _machine(found) if found and found["count"] > 0 else None

    return Machines(
        master=_machine(spec["master"], count=1),
        worker=group("worker"),
        parameter_server=group("parameterServer"),
        evaluator=group("evaluator"),
    )
