"""Cloud ML Engine models and versions: ``ml`` v1 on the region's endpoint.

Versions follow ML Engine's rules: the first is the default; the default is
deleted last (handed to the newest other first); a model only once it has no
versions. Creating a version is an operation, then a wait for READY.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

from reconciler.backends.base import LiveModel, LiveVersion, VersionDeployment, VersionState
from reconciler.backends.facets import Serving
from reconciler.backends.google.driver import one_model_at_a_time
from reconciler.backends.google.errors import AlreadyExists, NotFound
from reconciler.backends.google.mlengine import bodies
from reconciler.backends.google.mlengine.core import MlEngineCore
from reconciler.backends.google.once import at_most_once
from reconciler.backends.google.paging import list_all, list_if_found
from reconciler.backends.google.times import seconds
from reconciler.diagnostics import MlapplyError
from reconciler.stack.resources import LABEL_STACK


class MlEngineModels(MlEngineCore, Serving):
    # Reading -------------------------------------------------------------------------

    def live_serving(
        self, stack: str, records: Mapping[str, Any]
    ) -> tuple[tuple[LiveModel, ...], tuple[LiveVersion, ...]]:
        """The stack's models and their versions: one list of models, one of each
        model's versions."""
        query = bodies.label_filter({LABEL_STACK: stack})
        models = list_all(
            self.caller, self.models, "list models", "models", parent=self.parent, filter=query
        )
        live_models: list[LiveModel] = []
        versions: list[LiveVersion] = []
        for model in models:
            model_id = model["name"].rsplit("/", 1)[1]
            default = (model.get("defaultVersion") or {}).get("name")
            live_models.append(
                LiveModel(
                    model_id,
                    dict(model.get("labels", {})),
                    description=model.get("description", ""),
                    region=(model.get("regions") or [self.region])[0],
                    online_prediction_logging=bool(model.get("onlinePredictionLogging")),
                    default_version=default.rsplit("/", 1)[1] if default else None,
                    console_url=(
                        "https://console.cloud.google.com/ai-platform/models/"
                        f"{model_id}?project={self.project}"
                    ),
                )
            )
            for version in self._versions(model_id):
                name = version["name"].rsplit("/", 1)[1]
                if version.get("labels", {}).get(LABEL_STACK) != stack:
                    continue
                versions.append(
                    LiveVersion(
                        name,
                        dict(version.get("labels", {})),
                        model=model_id,
                        # A version still being made, or whose making failed, is
                        # not serving: the next apply takes it up (deploy_version).
                        state=(
                            VersionState.READY
                            if version.get("state") == "READY"
                            else VersionState.UPLOADED
                        ),
                        description=version.get("description", ""),
                        deployment_uri=version.get("deploymentUri"),
                        create_time=seconds(version.get("createTime")),
                        error=version.get("errorMessage") or None,
                        spec=records.get("versions", {}).get(f"{model_id}/{name}") or None,
                    )
                )
        return tuple(live_models), tuple(versions)

    # Changing ------------------------------------------------------------------------

    def _model(self, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.call(
                self.models.get(name=f"{self.parent}/models/{name}"), f"get model {name}"
            )
        except NotFound:
            return None
        return found

    def put_model(self, model: LiveModel) -> None:
        found = self._model(model.name)
        if found is None:
            body = {
                "name": model.name,
                "description": model.description,
                "regions": [model.region or self.region],
                "onlinePredictionLogging": model.online_prediction_logging,
                "labels": dict(model.labels),
            }
            with suppress(AlreadyExists):  # an earlier attempt made it (gcp-api.md 1.7)
                self.call(
                    self.models.create(parent=self.parent, body=body),
                    f"create model {model.name}",
                )
            return
        if bool(found.get("onlinePredictionLogging")) != model.online_prediction_logging:
            raise MlapplyError(
                f"Cloud ML Engine cannot change onlinePredictionLogging of model {model.name}: "
                "models.patch takes only its description and labels (ml v1 discovery "
                "document; gcloud's models update)",
                "delete the model (remove it from the manifests and apply), then declare it "
                "again with the setting",
            )
        operation = self.call(
            self.models.patch(
                name=f"{self.parent}/models/{model.name}",
                updateMask="description,labels",
                body={"description": model.description, "labels": dict(model.labels)},
            ),
            f"update model {model.name}",
        )
        self.wait(operation, f"update model {model.name}")

    @one_model_at_a_time(lambda name: name)
    def delete_model(self, name: str) -> None:
        """Its versions first, the default one last (ML Engine refuses to delete the
        default while others remain), then the model (refused while it has versions:
        gcp-api.md 1.7, Airflow's ``_delete_all_versions``)."""
        for version in self._versions_in_deletion_order(name):
            self._delete_version(name, version["name"].rsplit("/", 1)[1])
        self.delete(self.models.delete(name=f"{self.parent}/models/{name}"), f"delete model {name}")

    def _versions(self, model: str) -> list[dict[str, Any]]:
        return list_if_found(
            self.caller,
            self.models.versions(),
            f"list versions of {model}",
            "versions",
            parent=f"{self.parent}/models/{model}",
        )

    def _versions_in_deletion_order(self, model: str) -> list[dict[str, Any]]:
        return sorted(self._versions(model), key=lambda v: bool(v.get("isDefault")))

    def _version(self, model: str, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.call(
                self.models.versions().get(name=_version_name(self.parent, model, name)),
                f"get version {name} of {model}",
            )
        except NotFound:
            return None
        return found

    @one_model_at_a_time(lambda deployment: deployment.record.model)
    def deploy_version(self, deployment: VersionDeployment) -> None:
        version = deployment.record
        export = self.stage_version(version, deployment.export)
        what = f"create version {version.name} of {version.model}"
        found = self._version(version.model, version.name)
        if found is not None and found.get("state") == "FAILED":
            self._delete_version(version.model, version.name)  # made again below
            found = None
        if found is None:
            body = bodies.version_body(
                version.name, version.description, export, deployment.version, version.labels
            )

            def create() -> None:
                try:
                    operation = self.call(
                        self.models.versions().create(
                            parent=f"{self.parent}/models/{version.model}", body=body
                        ),
                        what,
                        retry=False,
                    )
                except AlreadyExists:
                    return  # an earlier attempt's, awaited below
                self.wait(operation, what)

            at_most_once(
                self.caller,
                what,
                create,
                lambda: self._version(version.model, version.name) is not None,
            )
        self._await_ready(version.model, version.name, what)

    def _await_ready(self, model: str, name: str, what: str) -> None:
        deadline = time.monotonic() + self.operation_seconds
        while True:
            found = self._version(model, name)
            state = (found or {}).get("state")
            if state == "READY":
                return
            if found is None or state == "FAILED":
                error = (found or {}).get("errorMessage") or "it is gone"
                raise MlapplyError(f"{what} failed: {error}")
            if time.monotonic() > deadline:
                raise MlapplyError(
                    f"{what}: still {state} after {self.operation_seconds:.0f} s",
                    "it goes on at Google; apply again later",
                )
            time.sleep(min(self.poll_seconds, 2.0))

    @one_model_at_a_time(lambda version: version.model)
    def update_version(self, version: LiveVersion) -> None:
        """versions.patch: its description and labels (gcp-api.md 1.4)."""
        self.record_version(version)
        what = f"update version {version.name} of {version.model}"
        operation = self.call(
            self.models.versions().patch(
                name=_version_name(self.parent, version.model, version.name),
                updateMask="description,labels",
                body={"description": version.description, "labels": dict(version.labels)},
            ),
            what,
        )
        self.wait(operation, what)

    @one_model_at_a_time(lambda model, version: model)
    def set_default(self, model: str, version: str) -> None:
        self.call(
            self.models.versions().setDefault(
                name=_version_name(self.parent, model, version), body={}
            ),
            f"make {version} the default version of {model}",
        )

    @one_model_at_a_time(lambda model, name: model)
    def delete_version(self, model: str, name: str) -> None:
        self._delete_version(model, name)

    def _delete_version(self, model: str, name: str) -> None:
        """ML Engine deletes the default version only when it is the last one
        (versions.delete, ml v1 discovery document): a default going while others
        stay hands the default to the newest of them first."""
        versions = self._versions(model)
        target = next((v for v in versions if v["name"].endswith(f"/versions/{name}")), None)
        if target is None:
            return
        others = [v for v in versions if v is not target]
        if target.get("isDefault") and others:
            newest = max(others, key=lambda v: str(v.get("createTime", "")))
            self.set_default(model, newest["name"].rsplit("/", 1)[1])
        self.delete(
            self.models.versions().delete(name=_version_name(self.parent, model, name)),
            f"delete version {name} of {model}",
        )
        self.forget_version(target.get("labels", {}).get(LABEL_STACK, ""), model, name)


def _version_name(parent: str, model: str, version: str) -> str:
    return f"{parent}/models/{model}/versions/{version}"
