"""What the gcloud commands declared, as mlapply manifests (documents as data).

A Stack on backend ``mlengine`` (the API the commands spoke, so that validate
and plan show the same job; moving to ``vertex`` is one line), a Dataset from
the data flags of the user args, a Trainer per package with the flag names
the trainer takes, a TrainingJob per submit, a Model per model and a
ModelVersion per version. The user args that are ``--name=value`` (or
``--name value``) become hyperparameters, passed back as ``--name=value``.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

from reconciler.importing import trainingspec
from reconciler.importing.gcloud import Found, Job, Version, relative_path
from reconciler.importing.script import unresolved

API = "mlapply/v1"
TRAIN_FLAGS = ("--train_data_paths", "--train-data-paths", "--train-files", "--train_files")
EVAL_FLAGS = ("--eval_data_paths", "--eval-data-paths", "--eval-files", "--eval_files")
OUTPUT_FLAGS = ("--output_dir", "--output-dir")
DEFAULT_FLAGS = {
    "train": "--train_data_paths",
    "eval": "--eval_data_paths",
    "output": "--output_dir",
}
PLACEHOLDERS = {
    "project": "my-project",
    "region": "us-central1",
    "stagingBucket": "gs://my-staging-bucket",
}


def manifest_name(text: str, fallback: str = "imported") -> str:
    """A gcloud id (``census_model``) as a manifest name (``census-model``)."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower().replace("_", "-"))
    name = re.sub(r"-+", "-", name).lstrip("-0123456789")[:63].rstrip("-")
    return name or fallback


def _document(kind: str, name: str, spec: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    document: dict[str, Any] = {"apiVersion": API, "kind": kind, "metadata": meta}
    if spec:
        document["spec"] = spec
    return document


class _Args:
    """A job's user args split into what the manifests declare apart."""

    def __init__(self, args: list[str]) -> None:
        self.flags: dict[str, tuple[str, str]] = {}  # train/eval/output -> (flag, value)
        self.hyperparameters: dict[str, str] = {}
        self.rest: list[str] = []
        self.job_dir_given = False
        index = 0
        while index < len(args):
            word = args[index]
            name, equals, value = word.partition("=")
            takes_next = (
                not equals
                and name.startswith("--")
                and index + 1 < len(args)
                and not args[index + 1].startswith("--")
            )
            if takes_next:
                value = args[index + 1]
                index += 1
            index += 1
            if not name.startswith("--") or not (equals or takes_next):
                self.rest.append(word)
            elif name == "--job-dir":
                self.job_dir_given = True
            elif name in TRAIN_FLAGS:
                self.flags["train"] = (name, value)
            elif name in EVAL_FLAGS:
                self.flags["eval"] = (name, value)
            elif name in OUTPUT_FLAGS:
                self.flags["output"] = (name, value)
            else:
                self.hyperparameters[name[2:]] = value


def documents(found: Found, out: Path) -> dict[str, list[dict[str, Any]]]:
    """The manifests by file name (``stack.yaml``, ``training.yaml``, ``serving.yaml``)."""
    _merge_configs(found)
    training: list[dict[str, Any]] = []
    trainers: dict[tuple[Any, ...], str] = {}
    outputs: dict[str, str] = {}  # where a job wrote (its job dir, output dir) -> its name
    names: set[str] = set()
    for job in found.jobs:
        name = _unique(manifest_name(re.split(r"[$`]", job.name)[0], "job"), names)
        for place in (job.job_dir, job.training_input.get("jobDir")):
            if place:  # as written: a version's --origin repeats the same shell words
                outputs[place.rstrip("/")] = name
        training.extend(_job_documents(found, job, name, trainers, outputs, out))
    serving = _serving(found, outputs)
    stack_name = manifest_name(
        next(iter(found.models), "") or (found.jobs[0].name.split("$")[0] if found.jobs else ""),
        "imported",
    )
    stack = _document("Stack", stack_name, {"backend": "mlengine", "gcp": _gcp(found)}, {})
    files = {"stack.yaml": [stack]}
    if training:
        files["training.yaml"] = training
    if serving:
        files["serving.yaml"] = serving
    return files


def _unique(name: str, taken: set[str]) -> str:
    candidate, number = name, 2
    while candidate in taken:
        candidate = f"{name}-{number}"
        number += 1
    taken.add(candidate)
    return candidate


def _merge_configs(found: Found) -> None:
    """Config files given on their own (an hptuning_config.yaml) belong to the one job."""
    for path, config in found.configs:
        where = (path, 1)
        if len(found.jobs) != 1:
            found.note(
                where,
                f"{len(found.jobs)} jobs were imported: this config belongs to "
                "none of them; pass it with --config on its job's command instead",
            )
            continue
        found.jobs[0].training_input.update(config.get("trainingInput", {}))


def _gcp(found: Found) -> dict[str, Any]:
    settings = dict(found.settings)
    if "stagingBucket" not in settings:
        job_dir = next((j.job_dir for j in found.jobs if j.job_dir), None)
        bucket = "gs://" + job_dir[5:].split("/", 1)[0] if job_dir else ""
        if job_dir and job_dir.startswith("gs://") and not unresolved(bucket):
            settings["stagingBucket"] = bucket
    for job in found.jobs:
        settings.setdefault("region", job.training_input.get("region", ""))
        if job.training_input.get("serviceAccount"):
            settings.setdefault("serviceAccount", job.training_input["serviceAccount"])
    gcp: dict[str, Any] = {}
    first = (
        found.jobs[0].where
        if found.jobs
        else next((m["where"] for m in found.models.values()), ("(none)", 0))
    )
    for key in ("project", "region", "stagingBucket", "serviceAccount"):
        value = settings.get(key)
        if key in PLACEHOLDERS and (not value or unresolved(value)):
            found.note(
                first,
                f"no {key} the importer could read ({value or 'not given'}): "
                f"set spec.gcp.{key} in stack.yaml (now {PLACEHOLDERS[key]})",
            )
            value = PLACEHOLDERS[key]
        if value:
            gcp[key] = value
    return gcp


def _job_documents(
    found: Found,
    job: Job,
    name: str,
    trainers: dict[tuple[Any, ...], str],
    outputs: dict[str, str],
    out: Path,
) -> list[dict[str, Any]]:
    spec = job.training_input
    where = job.where
    base = Path(where[0]).parent
    args = _Args(job.user_args or [str(a) for a in spec.get("args", [])])
    made: list[dict[str, Any]] = []
    if args.job_dir_given:
        found.note(
            where,
            "--job-dir in the user args: dropped; the service passes the job dir "
            "as --job-dir itself (mlapply gives each job its own)",
        )
    if job.job_dir:
        found.note(
            where,
            f"--job-dir {job.job_dir}: each mlapply job gets its own job dir, "
            "<stagingBucket>/mlapply/<stack>/jobs/<job id>, passed as --job-dir",
        )
    flags = {key: args.flags[key][0] if key in args.flags else None for key in DEFAULT_FLAGS}
    dataset = None
    if "train" in args.flags:
        dataset = _unique(f"{name}-data", set())
        data: dict[str, Any] = {"train": _paths(args.flags["train"][1], base, out)}
        if "eval" in args.flags:
            data["eval"] = _paths(args.flags["eval"][1], base, out)
        if any(unresolved(p) for p in [*_as_list(data["train"]), *_as_list(data.get("eval"))]):
            found.note(
                where,
                "a data path is made by the shell when it runs: set the "
                "Dataset's paths in training.yaml",
            )
        made.append(_document("Dataset", dataset, data, {}))
    trainer_spec: dict[str, Any] = {"module": spec.get("pythonModule", "trainer.task")}
    if job.package_path:
        trainer_spec["source"] = relative_path(
            str(PurePosixPath(job.package_path).parent), base, out
        )
    elif spec.get("packageUris"):
        trainer_spec["packageUris"] = list(spec["packageUris"])
    else:
        found.note(where, "no --package-path or --packages: set the Trainer's spec.source")
        trainer_spec["source"] = "."
    declared = {k: v for k, v in flags.items() if v != DEFAULT_FLAGS[k]}
    if declared:
        trainer_spec["flags"] = declared
    key = tuple(sorted((k, str(v)) for k, v in trainer_spec.items()))
    if key not in trainers:
        trainers[key] = manifest_name(
            PurePosixPath(job.package_path or "trainer").name if job.package_path else name,
            "trainer",
        )
        trainers[key] = _unique(trainers[key], set(trainers.values()) - {trainers[key]})
        made.append(_document("Trainer", trainers[key], trainer_spec, {}))
    job_spec: dict[str, Any] = {"trainer": trainers[key]}
    if dataset:
        job_spec["dataset"] = dataset
    if args.hyperparameters:
        job_spec["hyperparameters"] = args.hyperparameters
    if args.rest:
        job_spec["args"] = args.rest
    job_spec["scaleTier"] = spec.get("scaleTier", "BASIC")
    if job_spec["scaleTier"] == "CUSTOM":
        job_spec["machines"] = trainingspec.machines(spec, found, where)
    for key_ in ("runtimeVersion", "pythonVersion"):
        if spec.get(key_):
            job_spec[key_] = str(spec[key_])
    if spec.get("region") and spec["region"] != found.settings.get("region", spec["region"]):
        job_spec["region"] = spec["region"]
    output = args.flags.get("output")
    if output is not None:
        job_spec.update(_output_dir(found, where, output[1], job))
    if spec.get("hyperparameters"):
        job_spec["hyperparameterTuning"] = trainingspec.tuning(
            spec["hyperparameters"], found, where
        )
    running = (spec.get("scheduling") or {}).get("maxRunningTime")
    if running:
        job_spec["timeout"] = str(running)
    trainingspec.leftovers(spec, found, where)
    made.append(_document("TrainingJob", name, job_spec, job.labels))
    if output is not None and output[1].startswith("gs://"):
        outputs[output[1].rstrip("/")] = name
    return made


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _paths(value: str, base: Path, out: Path) -> str | list[str]:
    paths = [relative_path(p, base, out) for p in value.split(",") if p]
    return paths[0] if len(paths) == 1 else paths


def _output_dir(found: Found, where: tuple[str, int], value: str, job: Job) -> dict[str, Any]:
    """The output flag's folder, relative to the job dir when it was inside it."""
    if job.job_dir and value.startswith(job.job_dir.rstrip("/") + "/"):
        inside = value[len(job.job_dir.rstrip("/")) + 1 :].strip("/")
        return {} if inside == "output" else {"outputDir": inside}
    if unresolved(value):
        found.note(
            where,
            f"the output dir {value} is made by the shell when it runs: the "
            "job writes under its own job dir (set spec.outputDir to change it)",
        )
        return {}
    return {"outputDir": value}


def _serving(found: Found, outputs: dict[str, str]) -> list[dict[str, Any]]:
    made: list[dict[str, Any]] = []
    models = dict(found.models)
    for version in found.versions:
        models.setdefault(version.model, {"spec": {}, "labels": {}, "where": version.where})
    for model, declared in models.items():
        spec = dict(declared["spec"])
        made.append(_document("Model", manifest_name(model, "model"), spec, declared["labels"]))
    first: dict[str, str] = {}
    names: set[str] = set()
    for version in found.versions:
        first.setdefault(version.model, version.name)
        made.append(_version_document(found, version, outputs, first, names))
    return made


def _version_document(
    found: Found,
    version: Version,
    outputs: dict[str, str],
    first: dict[str, str],
    names: set[str],
) -> dict[str, Any]:
    spec: dict[str, Any] = {"model": manifest_name(version.model, "model")}
    spec["source"] = _source(found, version, outputs)
    default = found.defaults.get(version.model, first[version.model])
    if default == version.name:
        spec["default"] = True  # ML Engine made the first version the default
    for key in ("description", "runtimeVersion", "pythonVersion", "framework", "machineType"):
        if version.spec.get(key):
            spec[key] = str(version.spec[key])
    scaling = version.spec.get("autoScaling") or {}
    manual = version.spec.get("manualScaling") or {}
    if manual.get("nodes"):
        spec["scaling"] = {"nodes": int(manual["nodes"])}
    elif scaling:
        spec["scaling"] = {k: int(v) for k, v in scaling.items() if k in ("minNodes", "maxNodes")}
    known = {
        "description",
        "runtimeVersion",
        "pythonVersion",
        "framework",
        "machineType",
        "autoScaling",
        "manualScaling",
        "deploymentUri",
        "name",
    }
    for key in sorted(set(version.spec) - known):
        found.note(version.where, f"version {key}: not translated: no manifest field holds it")
    name = _unique(manifest_name(f"{version.model}-{version.name}", "version"), names)
    return _document("ModelVersion", name, spec, version.labels)


def _source(found: Found, version: Version, outputs: dict[str, str]) -> dict[str, Any]:
    origin = version.origin or str(version.spec.get("deploymentUri") or "")
    for place, job in sorted(outputs.items(), key=lambda item: -len(item[0])):
        if origin.startswith(place + "/") or origin == place:
            found.note(
                version.where,
                f"--origin {origin}: deployed from job {job}'s newest "
                "SavedModel (source.job); set source.exportPath to pin a folder",
            )
            return {"job": job}
    if unresolved(origin) or not origin:
        only = next(iter(set(outputs.values())), None) if len(set(outputs.values())) == 1 else None
        if only is not None:
            found.note(
                version.where,
                f"--origin {origin or '(none)'} is made by the shell: "
                f"deployed from job {only}'s newest SavedModel (source.job)",
            )
            return {"job": only}
        found.note(
            version.where,
            f"--origin {origin or '(none)'}: set source.uri to the "
            "SavedModel folder (or source.job to a TrainingJob)",
        )
        return {"uri": "gs://my-staging-bucket/SAVED_MODEL_DIR"}
    return {"uri": origin}
