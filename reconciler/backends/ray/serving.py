"""The ray backend's models and versions: one Ray Serve application per model.

Read and written through Serve's REST API on the dashboard (``GET`` and ``PUT
/api/serve/applications/``, "Serve REST API", docs.ray.io, through Ray's
``ServeSubmissionClient``; checked 2026-12-06). That ``PUT`` is declarative: it
replaces every application it is not given. So each write reads what runs and
puts back every other application's deployed config as it is, changing only
this stack's application of one model. Nothing mlapply did not write is
removed or changed.

A model is the application ``mlapply.STACK.MODEL`` on the route prefix
``/STACK/MODEL``, built by ``serve_app.app`` (shipped into the storage with
what it imports, by content). Its versions are deployments named by their live
names, each serving its SavedModel copied into the storage (so a purge of jobs
leaves it serving). The default version, the labels and the plan's records
live in the ingress deployment's ``user_config``: a switch of default or of
labels is applied in place (Serve's lightweight update: no replica restarts).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from reconciler.backends.base import LiveModel, LiveVersion, VersionDeployment, VersionState
from reconciler.backends.exportcopy import copy_export
from reconciler.backends.ray import staging
from reconciler.backends.served import Served
from reconciler.diagnostics import MlapplyError

MODULE = "mlapply_ray_serve"
INGRESS = "ingress"
READY_WITHIN = float(os.environ.get("MLAPPLY_RAY_SERVE_SECONDS") or 300.0)
POLL_SECONDS = 0.5
PREDICT_SECONDS = 60.0
SHIPPED = (
    "reconciler/__init__.py",
    "reconciler/backends/__init__.py",
    "reconciler/backends/served.py",
    "reconciler/diagnostics.py",
    "reconciler/serving/__init__.py",
    "reconciler/serving/routes.py",
    "reconciler/serving/signature.py",
)
"""What ``serve_app`` imports, shipped beside it."""
# Serve's deployment statuses ("Serve Deployment Status", docs.ray.io, checked
# 2026-12-06): a version whose deployment is one of these serves.
SERVING = frozenset({"HEALTHY", "UPSCALING", "DOWNSCALING"})
FAILED = frozenset({"UNHEALTHY", "DEPLOY_FAILED"})


def app_name(stack: str, model: str) -> str:
    return f"mlapply.{stack}.{model}"


def route_prefix(stack: str, model: str) -> str:
    return f"/{stack}/{model}"


class ServeApps:
    """This stack's applications on one cluster (``client``: a ServeSubmissionClient)."""

    def __init__(
        self,
        client: Callable[[], Any],
        storage: Path,
        stack: str,
        url: str,
        dashboard: str,
        cpus: float,
    ) -> None:
        self._client, self.storage, self.stack, self.url = client, storage, stack, url
        self.dashboard, self.cpus = dashboard, cpus
        # Each write puts every application: two at once in this process (apply's
        # parallel steps) would undo each other's. Their waits may overlap.
        self._writing = threading.Lock()

    # Reading -------------------------------------------------------------------------

    def _details(self) -> dict[str, Any]:
        found: dict[str, Any] = self._client().get_serve_details()
        return found

    def _ours(self, details: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        for name, app in (details.get("applications") or {}).items():
            config = app.get("deployed_app_config") or {}
            meta = _ingress_config(config).get("mlapply") or {}
            if meta.get("stack") == self.stack:
                yield name, app

    def read(self) -> tuple[tuple[LiveModel, ...], tuple[LiveVersion, ...]]:
        try:
            details = self._details()
        except RuntimeError as refused:
            if "status code 404" in str(refused):
                return (), ()  # a dashboard without Serve (ray[serve]) serves nothing
            raise MlapplyError(f"Ray Serve's API refused a read: {_first_line(refused)}") from None
        models, versions = [], []
        for name, app in self._ours(details):
            config = app["deployed_app_config"]
            user = _ingress_config(config)
            meta = user["mlapply"]
            models.append(
                LiveModel(
                    name=meta["model"],
                    labels=meta.get("labels", {}),
                    description=meta.get("description", ""),
                    region=meta.get("region", ""),
                    online_prediction_logging=bool(meta.get("logging")),
                    default_version=user.get("default"),
                    traffic={str(k): int(v) for k, v in (user.get("traffic") or {}).items()},
                    # The dashboard's route (its client, Ray 2.60: serve/applications/:name).
                    console_url=f"{self.dashboard}/#/serve/applications/{name}",
                )
            )
            deployments = app.get("deployments") or {}
            for version, spec in (config.get("args") or {}).get("versions", {}).items():
                recorded = meta.get("versions", {}).get(version, {})
                status = deployments.get(version, {})
                serving = status.get("status") in SERVING
                error = None
                if not serving:
                    error = status.get("message") or app.get("message") or "not serving yet"
                versions.append(
                    LiveVersion(
                        name=version,
                        labels=recorded.get("labels", {}),
                        model=meta["model"],
                        state=VersionState.READY if serving else VersionState.UPLOADED,
                        description=recorded.get("description", ""),
                        deployment_uri=spec["export"],
                        create_time=recorded.get("created"),
                        error=error,
                        spec=recorded.get("spec"),
                    )
                )
        return tuple(models), tuple(versions)

    # Writing -------------------------------------------------------------------------

    def put_model(self, model: LiveModel) -> None:
        def change(config: dict[str, Any]) -> None:
            meta = _ingress_config(config)["mlapply"]
            meta.update(
                labels=dict(model.labels),
                description=model.description,
                region=model.region,
                logging=model.online_prediction_logging,
            )

        self._change(model.name, change, create=True)

    def delete_model(self, model: str) -> None:
        self._change(model, None)
        shutil.rmtree(self._models() / model, ignore_errors=True)

    def deploy_version(self, deployment: VersionDeployment) -> None:
        record, version = deployment.record, deployment.version
        export = self._copy_export(deployment.export, record.model, record.name)
        created = time.time()  # one value: _holds applies the change again

        def change(config: dict[str, Any]) -> None:
            config["args"]["versions"][record.name] = {
                "export": export,
                "replicas": max(version.scaling.min_nodes or 1, version.scaling.nodes or 1),
                "cpus": self.cpus,  # spec.ray.cpusPerReplica, as a job's replica
            }
            _ingress_config(config)["mlapply"].setdefault("versions", {})[record.name] = {
                "labels": dict(record.labels),
                "description": record.description,
                "spec": record.spec,
                "created": created,
            }

        self._change(record.model, change, create=True, wait_for=record.name)

    def update_version(self, version: LiveVersion) -> None:
        def change(config: dict[str, Any]) -> None:
            kept = _ingress_config(config)["mlapply"].setdefault("versions", {})
            kept.setdefault(version.name, {}).update(
                labels=dict(version.labels), description=version.description, spec=version.spec
            )

        self._change(version.model, change)

    def set_default(self, model: str, version: str) -> None:
        def change(config: dict[str, Any]) -> None:
            user = _ingress_config(config)
            user["default"] = version
            user["traffic"] = None  # the default takes it all

        self._change(model, change)

    def set_traffic(self, model: str, split: Mapping[str, int]) -> None:
        def change(config: dict[str, Any]) -> None:
            _ingress_config(config)["traffic"] = {k: int(v) for k, v in split.items() if v}

        self._change(model, change)

    def served_rows(self, model: str) -> dict[str, list[tuple[float, Served]]]:
        """What the model's ingress counted per version: (bucket start, figures) rows."""
        import requests  # Ray's SDK's own HTTP client: installed with it

        url = f"{self.url}{route_prefix(self.stack, model)}/-/served"
        try:
            answer = requests.get(url, timeout=PREDICT_SECONDS)
            found = answer.json() if answer.status_code == 200 else None
        except (requests.RequestException, ValueError) as failed:
            raise MlapplyError(
                f"nothing answers at {url}: {_first_line(failed)}",
                "Ray Serve answers on the head node's port 8000 unless spec.ray.serveAddress "
                "says otherwise",
            ) from None
        if not isinstance(found, dict):
            raise MlapplyError(f"{url} answered {answer.status_code}, not the version figures")
        bounds = tuple(float(b) for b in found.get("bounds_ms", ()))
        return {
            str(version): [
                (float(row[0]), Served(int(row[1]), int(row[2]), tuple(row[3:]), bounds))
                for row in rows
            ]
            for version, rows in (found.get("versions") or {}).items()
        }

    def delete_version(self, model: str, name: str) -> None:
        def change(config: dict[str, Any]) -> None:
            config["args"]["versions"].pop(name, None)
            user = _ingress_config(config)
            user["mlapply"].get("versions", {}).pop(name, None)
            if user.get("default") == name:
                user["default"] = None

        self._change(model, change)
        shutil.rmtree(self._models() / model / name, ignore_errors=True)

    def _change(
        self,
        model: str,
        change: Callable[[dict[str, Any]], None] | None,
        *,
        create: bool = False,
        wait_for: str | None = None,
    ) -> None:
        """Put every application back as it runs, with this model's changed (or, with
        ``change`` None, left out), and wait until Serve runs what was put."""
        with self._writing:
            put = self._put(model, change, create)
        if put:
            self._wait(app_name(self.stack, model), change, wait_for)

    def _put(
        self, model: str, change: Callable[[dict[str, Any]], None] | None, create: bool
    ) -> bool:
        """Put the applications; whether there was anything to put."""
        try:
            details = self._details()
        except RuntimeError as refused:
            raise MlapplyError(
                f"the cluster's dashboard has no Ray Serve API: {_first_line(refused)}",
                "install ray[serve] in the cluster's Python environment (Ray 2.60)",
            ) from None
        name = app_name(self.stack, model)
        others, ours = [], None
        for app_key, app in (details.get("applications") or {}).items():
            config = app.get("deployed_app_config")
            if app_key == name:
                ours = json.loads(json.dumps(config)) if config else None
            elif config:
                others.append(config)
        if change is not None:
            if ours is None:
                if not create:
                    raise MlapplyError(f"model {model} is not deployed on the Ray cluster")
                ours = self._new_app(model)
            change(ours)
            ours = json.loads(json.dumps(ours))  # as Serve gives it back: JSON's types
        applications = [*others, ours] if change is not None else others
        if ours is None and change is None:
            return False  # deleted before (an earlier answer was lost)
        body: dict[str, Any] = {"applications": applications}
        for kept in ("proxy_location", "http_options"):
            if details.get(kept) is not None:
                body[kept] = details[kept]
        try:
            self._client().deploy_applications(body)
        except RuntimeError as refused:
            raise MlapplyError(
                f"Ray Serve refused the applications of model {model}: {_first_line(refused)}"
            ) from None
        return True

    def _wait(
        self, name: str, change: Callable[[dict[str, Any]], None] | None, version: str | None
    ) -> None:
        """Until Serve runs the change (its applications may have changed since: another
        step of this apply wrote after it), or no longer lists a deleted one."""
        deadline = time.monotonic() + READY_WITHIN
        while True:
            app = (self._details().get("applications") or {}).get(name)
            if change is None:
                if app is None:
                    return
            elif app is not None and _holds(app.get("deployed_app_config") or {}, change):
                status = app.get("status")
                deployments = app.get("deployments") or {}
                if status == "DEPLOY_FAILED":
                    raise MlapplyError(f"Ray Serve could not deploy {name}: {app.get('message')}")
                if version is not None and deployments.get(version, {}).get("status") in FAILED:
                    message = deployments[version].get("message")
                    raise MlapplyError(f"version {version} does not serve on Ray Serve: {message}")
                if status == "RUNNING":
                    return
            if time.monotonic() >= deadline:
                said = "not listed" if app is None else _state(app)
                raise MlapplyError(
                    f"Ray Serve did not run {name} within {READY_WITHIN:.0f} s ({said})",
                    "see the application in the Ray dashboard's Serve tab; the next apply "
                    "reads what runs and goes on",
                )
            time.sleep(POLL_SECONDS)

    def _new_app(self, model: str) -> dict[str, Any]:
        return {
            "name": app_name(self.stack, model),
            "route_prefix": route_prefix(self.stack, model),
            "import_path": f"{MODULE}:app",
            "runtime_env": {"env_vars": {"PYTHONPATH": str(self._ship())}},
            "args": {"model": model, "versions": {}},
            "deployments": [
                {
                    "name": INGRESS,
                    "user_config": {
                        "default": None,
                        "mlapply": {"stack": self.stack, "model": model},
                    },
                }
            ],
        }

    def _ship(self) -> Path:
        """The Serve application's code in the storage, in a folder named by its content."""
        sources = [(MODULE + ".py", Path(__file__).with_name("serve_app.py"))]
        sources += [(relative, staging.REPO / relative) for relative in SHIPPED]
        digest = hashlib.sha256()
        for relative, path in sources:
            digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
        folder = self.storage / "mlapply" / "_serve" / digest.hexdigest()[:16]
        if not folder.exists():
            partial = folder.with_name(folder.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            for relative, path in sources:
                (partial / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, partial / relative)
            partial.replace(folder)
        return folder

    def _models(self) -> Path:
        return staging.stack_folder(self.storage, self.stack) / "models"

    def _copy_export(self, export: str, model: str, version: str) -> str:
        target = self._models() / model / version
        if not target.exists():
            copy_export(Path(export), target)
        return str(target)

    # Predictions ---------------------------------------------------------------------

    def prediction_url(self, model: str, version: str | None) -> str:
        path = f"/v1/models/{model}" + (f"/versions/{version}" if version else "")
        return f"{self.url}{route_prefix(self.stack, model)}{path}:predict"

    def predict(self, model: str, version: str | None, instances: Sequence[Any]) -> list[Any]:
        import requests  # Ray's SDK's own HTTP client: installed with it

        url = self.prediction_url(model, version)
        try:
            answer = requests.post(
                url, json={"instances": list(instances)}, timeout=PREDICT_SECONDS
            )
        except requests.RequestException as unreachable:
            raise MlapplyError(
                f"nothing answers at {url}: {_first_line(unreachable)}",
                "Ray Serve answers on the head node's port 8000 unless spec.ray.serveAddress "
                "says otherwise",
            ) from None
        try:
            found = answer.json()
        except ValueError:
            found = {"error": answer.text[:300]}
        if answer.status_code != 200:
            raise MlapplyError(f"{url} answered {answer.status_code}: {found.get('error')}")
        predictions: list[Any] = found["predictions"]
        return predictions


def _state(app: dict[str, Any]) -> str:
    """What Serve says of an application and its deployments, in one line."""
    parts = [f"{app.get('status')} {app.get('message') or ''}".strip()]
    for name, deployment in (app.get("deployments") or {}).items():
        parts.append(f"{name}: {deployment.get('status')} {deployment.get('message') or ''}")
    return _first_line(Exception("; ".join(part.strip() for part in parts)))[:600]


def _holds(deployed: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> bool:
    """Whether a change is in the deployed config: making it again changes nothing of
    what mlapply writes (the versions and the ingress's config)."""
    again = json.loads(json.dumps(deployed))
    change(again)
    again = json.loads(json.dumps(again))
    same_ingress = _ingress_config(deployed) == _ingress_config(again)
    return same_ingress and deployed.get("args") == again.get("args")


def _ingress_config(config: dict[str, Any]) -> dict[str, Any]:
    for deployment in config.get("deployments") or []:
        if deployment.get("name") == INGRESS:
            user: dict[str, Any] = deployment.setdefault("user_config", {}) or {}
            return user
    return {}


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
