"""The fake's Cloud ML Engine (``ml`` v1): jobs, models, versions, operations.

Requests reach these handlers after the server matched them to the ml v1
discovery document and validated their bodies against its schemas. Here are
the service's rules that discovery cannot say, each with its source (the
reference's section 1 and its corrections of 2026-12-01 name them; checked
2026-12-06): job, model and version ids; labels; the scale tier's fields;
the runtime versions with their Python versions; machine types; tuning
specs; ``jobs.patch`` of labels and etag only; the default version (the
first one made; deleted only when last); models deleted only without
versions; long-running operations for version and model changes.

Jobs run: queued, running, then succeeded (or failed, or cancelled). Their
simulated trainer (the server's ``trainer``) is given what ML Engine gives
the master: the job's args, then ``--job-dir JOB_DIR`` (the service passes
jobDir itself), each trial's ``--name=value`` flags, and TF_CONFIG with the
cluster, the task (``chief`` from runtime 2.1) and the trial.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.fake_gcp.common import ApiError, now

if TYPE_CHECKING:
    from tests.fake_gcp.server import FakeGcp

# jobId, model and version names: "letters, numbers and underscores, starting with a
# letter", at most 128 (cloud.google.com/ml-engine/docs/managing-models-jobs).
ML_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")
# https://cloud.google.com/ai-platform/training/docs/runtime-version-list: the
# runtime versions offered at the end, and their Python versions ("2.1 and later
# support only Python 3.7": the tensorflow-2 page).
RUNTIMES = {
    "1.15": {"2.7", "3.7"},
    **{f"2.{minor}": {"3.7"} for minor in (1, 2, 3, 4, 5, 6, 7, 8, 11)},
}
# https://cloud.google.com/ai-platform/training/docs/machine-types: Compute Engine
# types, and the legacy names (which are not mixed with Compute Engine ones in a job).
TRAINING_MACHINE = re.compile(
    r"^(n1-standard-(4|8|16|32|64|96)|n1-highmem-(2|4|8|16|32|64|96)"
    r"|n1-highcpu-(16|32|64|96)|a2-highgpu-(1|2|4|8)g|a2-megagpu-16g|cloud_tpu)$"
)
LEGACY_MACHINE = re.compile(
    r"^(standard|large_model|complex_model_[sml]|standard_gpu|complex_model_[ml]_gpu"
    r"|standard_p100|complex_model_m_p100|standard_v100|large_model_v100"
    r"|complex_model_[ml]_v100)$"
)
# https://cloud.google.com/ai-platform/prediction/docs/machine-types-online-prediction;
# the fake is a regional endpoint, which takes no legacy mls1-* type ("You cannot use
# legacy (MLS1) machine types on regional endpoints": .../prediction/docs/regional-endpoints,
# checked 2026-12-07).
PREDICTION_MACHINE = re.compile(r"^n1-(standard|highmem|highcpu)-(2|4|8|16|32)$")
ROLES = ("worker", "parameterServer", "evaluator")
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
# versions.patch: "description, requestLoggingConfig, autoScaling.minNodes,
# manualScaling.nodes" (ml v1 discovery document), and labels (gcloud's versions
# update sends them: api_lib/ml_engine/versions_api.py).
VERSION_MASK = {
    "description",
    "requestLoggingConfig",
    "autoScaling.minNodes",
    "manualScaling.nodes",
}


@dataclass
class MlJob:
    resource: dict[str, Any]
    created: float = field(default_factory=time.monotonic)
    seconds: float = 0.3
    fail: bool = False


class MlEngine:
    """The ml v1 handlers of a :class:`~tests.fake_gcp.server.FakeGcp`, whose helpers
    (labels, pages, operations, objects, the simulated trainer) it uses."""

    def __init__(self, fake: FakeGcp) -> None:
        self.fake = fake
        self.jobs: dict[str, MlJob] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, list[dict[str, Any]]] = {}  # model name -> versions
        self.created: list[dict[str, Any]] = []  # jobs.create bodies, in order
        self._etags = itertools.count(1)

    # Helpers ---------------------------------------------------------------------------

    def _ml_project(self, params: dict[str, str]) -> str:
        if params["projectsId"] != self.fake.project:
            raise ApiError(
                403, f"Permission denied on project {params['projectsId']}", "PERMISSION_DENIED"
            )
        return f"projects/{self.fake.project}"

    def _ml_id(self, value: str, what: str) -> None:
        if not ML_ID.match(value or ""):
            raise ApiError(400, f"{what} {value!r}: letters, digits and _, starting with a letter")

    def _etag(self) -> str:
        return base64.b64encode(str(next(self._etags)).encode()).decode()

    def _ml_filter(self, items: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
        """``labels.KEY=VALUE`` terms joined by AND (the form of gcloud's documented
        label filters, cloud.google.com/ml-engine/docs/resource-labels)."""
        if not text:
            return items
        wanted = []
        for term in text.split(" AND "):
            match = re.fullmatch(r"labels\.([a-z][a-z0-9_-]*)=([a-z0-9_-]*)", term.strip())
            if match is None:
                raise ApiError(400, f"the fake cannot read the filter term {term!r}")
            wanted.append((match.group(1), match.group(2)))
        return [i for i in items if all(i.get("labels", {}).get(k) == v for k, v in wanted)]

    def _ml_page(self, items: list[dict[str, Any]], query: dict[str, str], key: str) -> Any:
        # pageSize: "default 20, max 100" (gcp-api.md corrections); the fake's pages are
        # smaller still, so that paging is exercised. An empty list is {} (jobs.list).
        size = int(query.get("pageSize") or 20)
        if size > 100:
            raise ApiError(400, f"pageSize {size} is over 100")
        page: dict[str, Any] = self.fake._page(items, query, key)
        return page if page[key] else {k: v for k, v in page.items() if k != key}

    # Jobs ------------------------------------------------------------------------------

    def _check_training_input(self, spec: dict[str, Any]) -> None:
        tier = spec["scaleTier"]
        if tier == "CUSTOM":
            master = spec.get("masterType")
            if not master:
                raise ApiError(400, "trainingInput.masterType is required with scaleTier CUSTOM")
            types = [master]
            for role in ROLES:
                if int(spec.get(f"{role}Count", 0)) > 0:
                    if not spec.get(f"{role}Type"):
                        raise ApiError(400, f"trainingInput.{role}Count needs {role}Type")
                    types.append(spec[f"{role}Type"])
            for machine in types:
                if not (TRAINING_MACHINE.match(machine) or LEGACY_MACHINE.match(machine)):
                    raise ApiError(400, f"trainingInput: no machine type {machine}")
            if len({bool(LEGACY_MACHINE.match(m)) for m in types}) > 1:
                raise ApiError(400, "trainingInput: legacy and Compute Engine machine types mixed")
        else:
            for key in ("masterType", *(f"{r}{f}" for r in ROLES for f in ("Type", "Count"))):
                if key in spec:
                    raise ApiError(
                        400, f"trainingInput.{key} is only allowed with scaleTier CUSTOM"
                    )
        if "masterConfig" in spec and spec["masterConfig"].get("imageUri"):
            return  # a custom container
        if not spec.get("packageUris") or not spec.get("pythonModule"):
            raise ApiError(400, "Non-custom jobs must have packages")  # gcloud's own words
        for uri in spec["packageUris"]:
            if not uri.startswith("gs://") or self.fake._object(uri) is None:
                raise ApiError(400, f"trainingInput: package {uri} does not exist")
        runtime, python = spec.get("runtimeVersion", "1.0"), spec.get("pythonVersion", "2.7")
        if runtime not in RUNTIMES or python not in RUNTIMES[runtime]:
            raise ApiError(400, f"runtime version {runtime} with Python {python} is not offered")
        if "jobDir" in spec and not str(spec["jobDir"]).startswith("gs://"):
            raise ApiError(400, "trainingInput.jobDir must be a gs:// path")
        if "hyperparameters" in spec:
            self._check_hyperparameters(spec["hyperparameters"])

    def _check_hyperparameters(self, spec: dict[str, Any]) -> None:
        """HyperparameterSpec and ParameterSpec rules (ml v1 discovery document)."""
        names = [p["parameterName"] for p in spec["params"]]
        if len(set(names)) != len(names):
            raise ApiError(400, "hyperparameters: parameter names must be unique")
        if int(spec.get("maxTrials", 1)) < 1 or int(spec.get("maxParallelTrials", 1)) < 1:
            raise ApiError(400, "hyperparameters: maxTrials and maxParallelTrials must be >= 1")
        for param in spec["params"]:
            kind, name = param["type"], param["parameterName"]
            if kind in ("DOUBLE", "INTEGER"):
                if "minValue" not in param or "maxValue" not in param:
                    raise ApiError(400, f"hyperparameters: {name} needs minValue and maxValue")
                if kind == "INTEGER" and not all(
                    float(param[k]).is_integer() for k in ("minValue", "maxValue")
                ):
                    raise ApiError(400, f"hyperparameters: {name} is INTEGER with a fraction")
                if param["minValue"] > param["maxValue"]:
                    raise ApiError(400, f"hyperparameters: {name}'s minValue is over maxValue")
            if kind == "CATEGORICAL" and (
                not param.get("categoricalValues") or "scaleType" in param
            ):
                raise ApiError(400, f"hyperparameters: {name} needs categoricalValues, no scale")
            if kind == "DISCRETE":
                values = param.get("discreteValues") or []
                if not values or any(b <= a for a, b in itertools.pairwise(values)):
                    raise ApiError(400, f"hyperparameters: {name}'s discreteValues must increase")
            if param.get("scaleType") in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE") and (
                float(param.get("minValue", 1)) <= 0
            ):
                raise ApiError(400, f"hyperparameters: {name}: a log scale needs a range above 0")
            if spec.get("algorithm") == "GRID_SEARCH" and kind == "DOUBLE":
                raise ApiError(400, f"hyperparameters: GRID_SEARCH cannot search DOUBLE {name}")

    def _projects_jobs_create(self, params: dict[str, str], query: Any, body: Any) -> Any:
        parent = self._ml_project(params)
        self._ml_id(body["jobId"], "jobId")
        self.fake._labels(body.get("labels"), "jobs.create")
        if "trainingInput" not in body:
            raise ApiError(400, "jobs.create: trainingInput is required (mlapply trains)")
        self._check_training_input(body["trainingInput"])
        name = f"{parent}/jobs/{body['jobId']}"
        if name in self.jobs:
            raise ApiError(409, f"Resource '{name}' already exists", "ALREADY_EXISTS")
        self.created.append(json.loads(json.dumps(body)))
        resource = {**body, "state": "QUEUED", "createTime": now(), "etag": self._etag()}
        seconds = 600.0 if body["jobId"] in self.fake.slow_jobs else self.fake.job_seconds
        self.jobs[name] = MlJob(
            resource, seconds=seconds, fail=body["jobId"] in self.fake.fail_jobs
        )
        return resource

    def _ml_advance(self, job: MlJob) -> dict[str, Any]:
        resource = job.resource
        age = time.monotonic() - job.created
        state = resource["state"]
        if state == "CANCELLING":
            resource.update(state="CANCELLED", endTime=now())
        elif state == "QUEUED" and age > min(job.seconds / 3, 1.0):
            resource.update(state="RUNNING", startTime=now())
        elif state == "RUNNING" and age > job.seconds:
            if job.fail:
                resource.update(
                    state="FAILED",
                    endTime=now(),
                    errorMessage="The replica master 0 exited with a non-zero status of 1.",
                )
            else:
                self._ml_train(resource)
                resource.update(state="SUCCEEDED", endTime=now())
        return resource

    def _ml_train(self, resource: dict[str, Any]) -> None:
        """Run the simulated trainer as ML Engine runs the master (each trial's)."""
        from tests.fake_gcp.server import Task

        spec = resource["trainingInput"]
        args = list(spec.get("args", []))
        if "jobDir" in spec:
            if any(a == "--job-dir" or a.startswith("--job-dir=") for a in args):
                # The service appends --job-dir itself (gcp-api.md, corrections of
                # 2026-12-01): a client that passes it too gives the trainer two.
                self.fake.violations.append(
                    f"job {resource['jobId']}: --job-dir in args and jobDir"
                )
            args += ["--job-dir", spec["jobDir"]]
        chief = "chief" if spec.get("runtimeVersion", "1.15") != "1.15" else "master"
        tuning = spec.get("hyperparameters")
        if tuning is None:
            self.fake.trainer(Task(self.fake, args, {"TF_CONFIG": _tf_config(spec, chief, None)}))
            return
        trials = []
        for number in range(1, int(tuning.get("maxTrials", 1)) + 1):
            values = {p["parameterName"]: _trial_value(p, number) for p in tuning["params"]}
            flags = [f"--{k}={v}" for k, v in values.items()]
            env = {"TF_CONFIG": _tf_config(spec, chief, str(number))}
            self.fake.trainer(Task(self.fake, [*args, *flags], env))
            trials.append(
                {
                    "trialId": str(number),
                    "hyperparameters": {k: str(v) for k, v in values.items()},
                    # Trial 2 is the best when minimising, trial 1 when maximising.
                    "finalMetric": {"trainingStep": "100", "objectiveValue": _metric(number)},
                    "state": "SUCCEEDED",
                    "startTime": now(),
                    "endTime": now(),
                }
            )
        resource["trainingOutput"] = {
            "completedTrialCount": str(len(trials)),
            "isHyperparameterTuningJob": True,
            "hyperparameterMetricTag": tuning.get("hyperparameterMetricTag", ""),
            "trials": trials,
        }

    def _ml_job(self, params: dict[str, str]) -> MlJob:
        name = f"{self._ml_project(params)}/jobs/{params['jobsId']}"
        if name not in self.jobs:
            raise ApiError(404, f"Job {name} not found", "NOT_FOUND")
        return self.jobs[name]

    def _projects_jobs_get(self, params: dict[str, str], query: Any, _: Any) -> Any:
        return self._ml_advance(self._ml_job(params))

    def _projects_jobs_list(self, params: dict[str, str], query: Any, _: Any) -> Any:
        parent = self._ml_project(params)
        items = [
            self._ml_advance(job) for name, job in self.jobs.items() if name.startswith(parent)
        ]
        return self._ml_page(self._ml_filter(items, query.get("filter", "")), query, "jobs")

    def _projects_jobs_cancel(self, params: dict[str, str], query: Any, _: Any) -> Any:
        job = self._ml_job(params)
        if self._ml_advance(job)["state"] in TERMINAL:
            # Airflow treats this 400 as "already complete" (gcp-api.md 1.7).
            raise ApiError(400, "Job is already in a terminal state", "FAILED_PRECONDITION")
        job.resource["state"] = "CANCELLING"
        return {}

    def _projects_jobs_patch(self, params: dict[str, str], query: Any, body: Any) -> Any:
        job = self._ml_job(params)
        mask = set((query.get("updateMask") or "").split(","))
        if not mask - {""} or mask - {"labels", "etag"}:
            # Only labels (with etag) are updatable (gcp-api.md 1.4, ml v1 discovery).
            raise ApiError(400, f"jobs.patch: updateMask {sorted(mask)} (labels, etag only)")
        if "etag" in body and body["etag"] != job.resource["etag"]:
            raise ApiError(409, "The etag does not match: the job changed", "ABORTED")
        self.fake._labels(body.get("labels"), "jobs.patch")
        if "labels" in mask:
            job.resource["labels"] = dict(body.get("labels") or {})
        job.resource["etag"] = self._etag()
        return job.resource

    # Models ----------------------------------------------------------------------------

    def _ml_model(self, params: dict[str, str]) -> dict[str, Any]:
        name = f"{self._ml_project(params)}/models/{params['modelsId']}"
        if name not in self.models:
            raise ApiError(404, f"Model {name} not found", "NOT_FOUND")
        return self.models[name]

    def _projects_models_create(self, params: dict[str, str], q: Any, body: Any) -> Any:
        parent = self._ml_project(params)
        self._ml_id(body["name"], "model name")
        self.fake._labels(body.get("labels"), "models.create")
        if len(body.get("regions", ["us-central1"])) != 1:
            raise ApiError(400, "models.create: regions must name exactly one region")
        name = f"{parent}/models/{body['name']}"
        if name in self.models:
            # Airflow matches on exactly this field violation (gcp-api.md 1.7).
            raise ApiError(409, "A model with the same name already exists.", "ALREADY_EXISTS")
        self.models[name] = {**body, "name": name, "etag": self._etag()}
        self.versions[name] = []
        return self.models[name]

    def _projects_models_get(self, params: dict[str, str], query: Any, _: Any) -> Any:
        return self._ml_model(params)

    def _projects_models_list(self, params: dict[str, str], query: Any, _: Any) -> Any:
        parent = self._ml_project(params)
        items = [m for n, m in self.models.items() if n.startswith(parent)]
        return self._ml_page(self._ml_filter(items, query.get("filter", "")), query, "models")

    def _projects_models_patch(self, params: dict[str, str], query: Any, body: Any) -> Any:
        model = self._ml_model(params)
        mask = set((query.get("updateMask") or "").split(","))
        # description and defaultVersion.name (ml v1 discovery), labels (gcloud sends them).
        if not mask - {""} or mask - {"description", "labels", "defaultVersion.name", "etag"}:
            raise ApiError(400, f"models.patch: cannot update {sorted(mask)}")
        self.fake._labels(body.get("labels"), "models.patch")

        def apply() -> None:
            for key in mask & {"description", "labels"}:
                model[key] = body.get(key)

        return self.fake._operation(f"projects/{self.fake.project}", model, apply)

    def _projects_models_delete(self, params: dict[str, str], query: Any, _: Any) -> Any:
        model = self._ml_model(params)
        if self.versions[model["name"]]:
            # models.delete "requires no versions" (gcp-api.md 1.7; Airflow deletes them first).
            raise ApiError(400, f"{model['name']} still has versions", "FAILED_PRECONDITION")

        def gone() -> None:
            self.models.pop(model["name"], None)
            self.versions.pop(model["name"], None)

        return self.fake._operation(f"projects/{self.fake.project}", {}, gone)

    # Versions --------------------------------------------------------------------------

    def _ml_version(self, params: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
        model = self._ml_model(params)
        name = f"{model['name']}/versions/{params['versionsId']}"
        found = next((v for v in self.versions[model["name"]] if v["name"] == name), None)
        if found is None:
            raise ApiError(404, f"Version {name} not found", "NOT_FOUND")
        return model, found

    def _projects_models_versions_create(
        self, params: dict[str, str], query: Any, body: Any
    ) -> Any:
        model = self._ml_model(params)
        self._ml_id(body["name"], "version name")
        self.fake._labels(body.get("labels"), "versions.create")
        name = f"{model['name']}/versions/{body['name']}"
        versions = self.versions[model["name"]]
        if any(v["name"] == name for v in versions):
            raise ApiError(409, f"Version {name} already exists", "ALREADY_EXISTS")
        uri = str(body.get("deploymentUri", ""))
        if (
            not uri.startswith("gs://")
            or self.fake._object(uri.rstrip("/") + "/saved_model.pb") is None
        ):
            raise ApiError(400, f"versions.create: no saved_model.pb in {uri}")
        runtime, python = body["runtimeVersion"], body["pythonVersion"]
        if runtime not in RUNTIMES or python not in RUNTIMES[runtime]:
            raise ApiError(400, f"runtime version {runtime} with Python {python} is not offered")
        machine = body.get("machineType", "n1-standard-2")
        if not PREDICTION_MACHINE.match(machine):
            raise ApiError(400, f"versions.create: no prediction machine type {machine}")
        if "autoScaling" in body and "manualScaling" in body:
            raise ApiError(400, "versions.create: autoScaling or manualScaling, not both")
        low = body.get("autoScaling", {}).get("minNodes", 1)
        if machine.startswith("n1-") and "autoScaling" in body and low < 1:
            # minNodes "must be >= 1" on N1 machine types (gcp-api.md 1.5).
            raise ApiError(400, "versions.create: autoScaling.minNodes must be >= 1 on n1 types")
        version = {
            **body,
            "name": name,
            "state": "CREATING",
            "createTime": now(),
            "etag": self._etag(),
            # The first version made is the default (gcp-api.md 1.5).
            "isDefault": not versions,
        }
        versions.append(version)
        if version["isDefault"]:
            model["defaultVersion"] = {"name": name}

        def ready() -> None:
            version["state"] = "READY"

        metadata_name = f"projects/{self.fake.project}"
        return self.fake._operation(metadata_name, version, ready)

    def _projects_models_versions_get(self, params: dict[str, str], q: Any, _: Any) -> Any:
        return self._ml_version(params)[1]

    def _projects_models_versions_list(self, params: dict[str, str], q: Any, _: Any) -> Any:
        model = self._ml_model(params)
        items = self._ml_filter(self.versions[model["name"]], q.get("filter", ""))
        return self._ml_page(items, q, "versions")

    def _projects_models_versions_setDefault(
        self, params: dict[str, str], query: Any, body: Any
    ) -> Any:
        model, version = self._ml_version(params)
        if version["state"] != "READY":
            raise ApiError(400, f"{version['name']} is {version['state']}", "FAILED_PRECONDITION")
        for other in self.versions[model["name"]]:
            other["isDefault"] = other is version
        model["defaultVersion"] = {"name": version["name"]}
        return version

    def _projects_models_versions_patch(self, params: dict[str, str], query: Any, body: Any) -> Any:
        _, version = self._ml_version(params)
        mask = set((query.get("updateMask") or "").split(","))
        if not mask - {""} or mask - VERSION_MASK - {"labels", "etag"}:
            raise ApiError(400, f"versions.patch: cannot update {sorted(mask)} (immutable)")
        if version["state"] in ("CREATING", "DELETING", "UPDATING"):
            raise ApiError(400, f"{version['name']} is {version['state']}", "FAILED_PRECONDITION")
        self.fake._labels(body.get("labels"), "versions.patch")

        def apply() -> None:
            for key in mask & {"description", "labels"}:
                version[key] = body.get(key)

        return self.fake._operation(f"projects/{self.fake.project}", version, apply)

    def _projects_models_versions_delete(self, params: dict[str, str], query: Any, _: Any) -> Any:
        model, version = self._ml_version(params)
        versions = self.versions[model["name"]]
        if version.get("isDefault") and len(versions) > 1:
            # "You cannot delete the version that is set as the default version of the
            # model unless it is the only remaining version" (versions.delete, ml v1
            # discovery document).
            raise ApiError(400, f"{version['name']} is the default version", "FAILED_PRECONDITION")
        if version["state"] in ("CREATING", "DELETING", "UPDATING"):
            raise ApiError(400, f"{version['name']} is {version['state']}", "FAILED_PRECONDITION")
        version["state"] = "DELETING"

        def gone() -> None:
            versions.remove(version)
            if not versions:
                model.pop("defaultVersion", None)

        return self.fake._operation(f"projects/{self.fake.project}", {}, gone)

    def _projects_operations_get(self, params: dict[str, str], query: Any, _: Any) -> Any:
        return self.fake._get_operation(
            f"{self._ml_project(params)}/operations/{params['operationsId']}"
        )


def _tf_config(spec: dict[str, Any], chief: str, trial: str | None) -> str:
    """TF_CONFIG as ML Engine set it on every VM (gcp-api.md section 2.1)."""
    cluster: dict[str, list[str]] = {chief: ["cmle-training-master-0:2222"]}
    for role, task in (("worker", "worker"), ("parameterServer", "ps")):
        count = int(spec.get(f"{role}Count", 0))
        if count:
            cluster[task] = [f"cmle-training-{task}-{i}:2222" for i in range(count)]
    this: dict[str, Any] = {"type": chief, "index": 0, "cloud": "fake"}
    if trial is not None:
        this["trial"] = trial
    return json.dumps({"cluster": cluster, "task": this, "job": spec, "environment": "cloud"})


def _trial_value(param: dict[str, Any], number: int) -> Any:
    if param["type"] == "DOUBLE":
        return float(param["minValue"]) * number
    if param["type"] == "INTEGER":
        return int(param["minValue"]) + number
    values = param.get("categoricalValues") or param["discreteValues"]
    return values[number % len(values)]


def _metric(number: int) -> float:
    return 0.5 if number == 2 else 10.0 / number
