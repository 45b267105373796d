"""Vertex AI serving: one Endpoint per model, each version a version of a Vertex
Model deployed to it, the default version taking all the traffic.

A version's identity is its alias (its live name); its deployment's id is
mlapply's (from the live name), so a deploy whose answer was lost is looked
up, not sent twice. An undeploy first moves the model's traffic to the others
(Vertex refuses one that leaves traffic on it), and a model's deployments go
zero-traffic first, as Google's SDK does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reconciler.backends.base import LiveModel, LiveVersion, VersionDeployment, VersionState
from reconciler.backends.compiled import CompiledVersion
from reconciler.backends.facets import Serving
from reconciler.backends.google.driver import one_model_at_a_time
from reconciler.backends.google.errors import AlreadyExists, NotFound
from reconciler.backends.google.once import at_most_once
from reconciler.backends.google.paging import list_all, list_if_found
from reconciler.backends.google.times import seconds
from reconciler.backends.google.vertex import bodies, catalogue, images, servers
from reconciler.backends.google.vertex.core import VertexCore
from reconciler.diagnostics import MlapplyError
from reconciler.stack.resources import LABEL_HASH, LABEL_STACK

UPLOAD_SETTLE_POLLS = 10


class VertexEndpoints(VertexCore, Serving):
    # Reading -----------------------------------------------------------------------

    def live_serving(
        self, stack: str, records: Mapping[str, Any]
    ) -> tuple[tuple[LiveModel, ...], tuple[LiveVersion, ...]]:
        """The stack's models (endpoints) and versions: one list of endpoints, one of
        models, one of each model's versions."""
        query = bodies.filter_labels({LABEL_STACK: stack})
        endpoints = list_all(
            self.caller,
            self.ai.endpoints(),
            "list endpoints",
            "endpoints",
            parent=self.parent,
            filter=query,
        )
        models = list_all(
            self.caller, self.ai.models(), "list models", "models", parent=self.parent, filter=query
        )
        versions: list[LiveVersion] = []
        version_ids: dict[tuple[str, str], str] = {}
        # A version serves when a deployment of its live name is on its model's endpoint
        # (of this copy of it, or of another an upload sent twice made).
        serving = {
            (str(endpoint.get("displayName")), str(d.get("displayName")))
            for endpoint in endpoints
            for d in endpoint.get("deployedModels", [])
        }
        for model in models:
            model_id = model["name"].rsplit("/", 1)[1]
            listed = list_all(
                self.caller,
                self.ai.models(),
                f"list versions of {model_id}",
                "models",
                name=model["name"],
                method="listVersions",
            )
            written = {
                key.split("/", 1)[1]
                for key in records.get("versions", {})
                if key.startswith(f"{model_id}/")
            }
            for version in listed:
                name = bodies.live_name(version.get("versionAliases", []), written)
                if name is None or version.get("labels", {}).get(LABEL_STACK) != stack:
                    continue
                version_ids[(model_id, str(version.get("versionId")))] = name
                recorded = records.get("versions", {}).get(f"{model_id}/{name}") or {}
                versions.append(
                    LiveVersion(
                        name,
                        version_labels(name, version, recorded),
                        model=model_id,
                        state=(
                            VersionState.READY
                            if (model_id, name) in serving
                            else VersionState.UPLOADED
                        ),
                        description=version.get("versionDescription", ""),
                        deployment_uri=version.get("artifactUri"),
                        create_time=seconds(version.get("versionCreateTime")),
                        spec=recorded or None,
                    )
                )
        live_models = []
        for endpoint in endpoints:
            model_id = str(endpoint.get("displayName"))
            split = endpoint.get("trafficSplit", {})
            default = None
            traffic: dict[str, int] = {}
            for deployed in endpoint.get("deployedModels", []):
                name = version_ids.get((model_id, str(deployed.get("modelVersionId"))))
                share = int(split.get(deployed.get("id"), 0))
                if share == 100:
                    default = name
                elif share and name is not None:
                    traffic[name] = share
            if traffic:
                # Split by a rollout: the default is the version it takes traffic from.
                default = next(
                    (
                        state.previous
                        for v in versions
                        if v.model == model_id
                        and (state := v.rollout) is not None
                        and v.name in traffic
                        and state.previous in traffic
                    ),
                    max(traffic, key=lambda name: (traffic[name], name)),
                )
            recorded = records.get("models", {}).get(model_id, {})
            deployed = endpoint.get("deployedModels", [])
            logging = (
                all(d.get("enableAccessLogging", False) for d in deployed)
                if deployed
                else bool(recorded.get("onlinePredictionLogging"))
            )
            live_models.append(
                LiveModel(
                    model_id,
                    dict(endpoint.get("labels", {})),
                    description=endpoint.get("description", ""),
                    region=self.region,
                    online_prediction_logging=logging,
                    default_version=default,
                    create_time=seconds(endpoint.get("createTime")),
                    console_url=bodies.console_url(str(endpoint.get("name", ""))),
                    traffic=traffic,
                )
            )
        return tuple(live_models), tuple(versions)

    # Models: one Endpoint each -------------------------------------------------------

    def _endpoint_name(self, model: str) -> str:
        return f"{self.parent}/endpoints/{bodies.endpoint_id(model)}"

    def _endpoint(self, model: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.call(
                self.ai.endpoints().get(name=self._endpoint_name(model)), f"get endpoint {model}"
            )
        except NotFound:
            return None
        return found

    def put_model(self, model: LiveModel) -> None:
        body = {
            "displayName": model.name,
            "description": model.description,
            "labels": dict(model.labels),
        }
        stack = model.stack or ""
        self.records.put(
            stack,
            "models",
            model.name,
            {"onlinePredictionLogging": model.online_prediction_logging},
        )
        if self._endpoint(model.name) is None:
            try:
                operation = self.call(
                    self.ai.endpoints().create(
                        parent=self.parent, endpointId=bodies.endpoint_id(model.name), body=body
                    ),
                    f"create endpoint {model.name}",
                )
                self.wait(operation, f"create endpoint {model.name}")
                return
            except AlreadyExists:
                pass  # an earlier attempt made it
        self.call(
            self.ai.endpoints().patch(
                name=self._endpoint_name(model.name),
                updateMask="displayName,description,labels",
                body=body,
            ),
            f"update endpoint {model.name}",
        )

    @one_model_at_a_time(lambda name: name)
    def delete_model(self, name: str) -> None:
        endpoint = self._endpoint(name)
        if endpoint is not None:
            split = endpoint.get("trafficSplit", {})
            # Zero-traffic deployments first, as Google's SDK does (Endpoint.undeploy_all):
            # each undeploy then leaves the traffic on a model still deployed.
            order = sorted(endpoint.get("deployedModels", []), key=lambda d: split.get(d["id"], 0))
            for deployed in order:
                self._undeploy(name, str(deployed["id"]))
            self.delete(
                self.ai.endpoints().delete(name=endpoint["name"]), f"delete endpoint {name}"
            )
        self.delete(
            self.ai.models().delete(name=f"{self.parent}/models/{name}"), f"delete model {name}"
        )

    # Versions: Model versions deployed to the model's Endpoint ------------------------

    def _versions(self, model: str) -> list[dict[str, Any]]:
        return list_if_found(
            self.caller,
            self.ai.models(),
            f"list versions of {model}",
            "models",
            method="listVersions",
            name=f"{self.parent}/models/{model}",
        )

    def _version(self, model: str, name: str) -> dict[str, Any] | None:
        wanted = bodies.alias(name)
        return next(
            (v for v in self._versions(model) if wanted in v.get("versionAliases", [])), None
        )

    def _logging(self, stack: str, model: str) -> bool:
        recorded = self.records.read(stack).get("models", {}).get(model, {})
        return bool(recorded.get("onlinePredictionLogging"))

    @one_model_at_a_time(lambda deployment: deployment.record.model)
    def deploy_version(self, deployment: VersionDeployment) -> None:
        version = deployment.record
        folder = servers.version_folder(deployment.version.serving_container)
        export = self.stage_version(version, deployment.export, folder)
        found = self._version(version.model, version.name)
        if found is None:
            found = self._upload_version(version, export, deployment.version)
        if self._endpoint(version.model) is None:
            raise MlapplyError(f"model {version.model} has no endpoint; apply its Model first")
        self._ensure_deployed(
            version.model,
            version.name,
            version_resource(found),
            bodies.prediction_resources(deployment.version),
            self._logging(version.stack or "", version.model),
        )
        self._sweep_orphans(version.model)

    def _ensure_deployed(
        self,
        model: str,
        display: str,
        resource: str,
        resources: Mapping[str, Any],
        logging: bool,
    ) -> None:
        """``display`` deployed as the DeployedModel mlapply's id names, and no other
        deployment of it left: an older one (of another setting) hands its traffic
        over, then goes."""
        wanted = bodies.deployed_model_id(display, logging)
        endpoint = self._endpoint(model) or {}
        mine = [d for d in endpoint.get("deployedModels", []) if d.get("displayName") == display]
        if not any(str(d["id"]) == wanted for d in mine):
            self._deploy(model, endpoint, display, resource, resources, logging, wanted)
        for old in mine:
            if str(old["id"]) != wanted:
                self._move_traffic(model, str(old["id"]), wanted)
                self._undeploy(model, str(old["id"]))

    def _deploy(
        self,
        model: str,
        endpoint: Mapping[str, Any],
        display: str,
        resource: str,
        resources: Mapping[str, Any],
        logging: bool,
        wanted: str,
    ) -> None:
        body = {
            "deployedModel": {
                "model": resource,
                "id": wanted,
                "displayName": display,
                "dedicatedResources": dict(resources),
                "enableAccessLogging": logging,
            },
            # The first deployment takes the traffic; a later one none until it is made
            # the default (an empty split leaves the endpoint's as it is).
            "trafficSplit": {} if endpoint.get("deployedModels") else {"0": 100},
        }
        what = f"deploy {display} to endpoint {model}"

        def deployed() -> bool:
            return self._deployed(model, wanted)

        def send() -> None:
            try:
                self.wait(
                    self.call(
                        self.ai.endpoints().deployModel(endpoint=endpoint["name"], body=body),
                        what,
                        retry=False,
                    ),
                    what,
                )
            except AlreadyExists:
                # Our id is taken: an earlier attempt's deployment, done or under way.
                self._await(what, deployed)

        at_most_once(self.caller, what, send, deployed)

    def _deployed(self, model: str, deployed_id: str) -> bool:
        endpoint = self._endpoint(model) or {}
        return deployed_id in {str(d["id"]) for d in endpoint.get("deployedModels", [])}

    def _await(self, what: str, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.operation_seconds
        while not done():
            if time.monotonic() > deadline:
                raise MlapplyError(
                    f"{what}: still under way after {self.operation_seconds:.0f} s",
                    "it goes on at Google; apply again later",
                )
            time.sleep(self.poll_seconds)

    def _upload_version(
        self, version: LiveVersion, export: str, compiled: CompiledVersion
    ) -> dict[str, Any]:
        runtime = compiled.runtime_version or catalogue.DEFAULT_RUNTIME
        container = compiled.serving_container
        model_body = {
            "displayName": version.model,
            "versionDescription": version.description,
            "versionAliases": [bodies.alias(version.name)],
            "artifactUri": export,
            "containerSpec": (
                bodies.serving_container(container)
                if container
                else {"imageUri": images.prediction_image(runtime, False, self.region)}
            ),
            "labels": dict(version.labels),
        }
        model_name = f"{self.parent}/models/{version.model}"
        exists = bool(self._versions(version.model))
        request: dict[str, Any] = {"model": model_body}
        if exists:
            request["parentModel"] = model_name
        else:
            request["modelId"] = version.model
        what = f"upload {version.name} to model {version.model}"

        def uploaded() -> bool:
            return self._version(version.model, version.name) is not None

        def settled() -> bool:
            # After a lost answer, the upload may be running: an upload sent again would
            # make a second copy, and the first, finishing later, would take the alias
            # back. So give it a while to show before sending again.
            deadline = time.monotonic() + UPLOAD_SETTLE_POLLS * self.poll_seconds
            while not uploaded():
                if time.monotonic() > deadline:
                    return False
                time.sleep(self.poll_seconds)
            return True

        def send() -> None:
            try:
                self.wait(
                    self.call(
                        self.ai.models().upload(parent=self.parent, body=request),
                        what,
                        retry=False,
                    ),
                    what,
                )
            except AlreadyExists:
                # The model id is taken: an earlier attempt's upload, done or under way.
                self._await(what, uploaded)

        at_most_once(self.caller, what, send, settled)
        found = self._version(version.model, version.name)
        if found is None:
            raise MlapplyError(f"uploading {version.name} to model {version.model} did not last")
        return found

    def _sweep_orphans(self, model: str) -> None:
        """Versions no alias of mlapply's names, and not deployed: an upload sent again
        after an answer lost while it was still running made a second copy, and the
        alias moved to the newer one (reusing an alias moves it, per the corrections in
        gcp-api.md). They serve nothing; delete them. A stray copy has the artifact of
        a version mlapply names: a version a person uploaded (its labels merged with
        the model's look like the stack's) is never one."""
        endpoint = self._endpoint(model) or {}
        serving = {str(d["model"]).rsplit("@", 1)[-1] for d in endpoint.get("deployedModels", [])}
        versions = self._versions(model)
        named = [v for v in versions if bodies.live_name(v.get("versionAliases", []))]
        ours = {v.get("artifactUri") for v in named}
        for found in versions:
            if found in named or found.get("artifactUri") not in ours:
                continue
            if str(found.get("versionId")) in serving or len(versions) < 2:
                continue
            if "default" in found.get("versionAliases", []):
                self._move_default_alias(model, found, versions)
            self.delete(
                self.ai.models().deleteVersion(name=version_resource(found)),
                f"delete the stray copy {found.get('versionId')} of {model}",
            )

    @one_model_at_a_time(lambda version: version.model)
    def update_version(self, version: LiveVersion) -> None:
        found = self._version(version.model, version.name)
        if found is None:
            raise MlapplyError(f"model {version.model} has no version {version.name}")
        self.record_version(version)
        name = version_resource(found)
        self.call(
            self.ai.models().patch(
                name=name,
                updateMask="labels,versionDescription",
                body={
                    "displayName": version.model,
                    "labels": dict(version.labels),
                    "versionDescription": version.description,
                },
            ),
            f"update version {version.name}",
        )

    @one_model_at_a_time(lambda model, version: model)
    def set_default(self, model: str, version: str) -> None:
        endpoint = self._endpoint(model)
        deployed = next(
            (
                d
                for d in (endpoint or {}).get("deployedModels", [])
                if d.get("displayName") == version
            ),
            None,
        )
        if endpoint is None or deployed is None:
            raise MlapplyError(f"version {version} is not deployed on the endpoint of {model}")
        self._route(model, endpoint, {deployed["id"]: 100}, f"route {model}'s traffic to {version}")

    @one_model_at_a_time(lambda model, split: model)
    def set_traffic(self, model: str, split: Mapping[str, int]) -> None:
        """The endpoint's trafficSplit, by deployed model id (Endpoint.trafficSplit: the
        percents of the deployments that take traffic, adding up to 100, aiplatform v1
        discovery document, checked 2026-12-07)."""
        endpoint = self._endpoint(model)
        ids = {
            str(d.get("displayName")): str(d["id"])
            for d in (endpoint or {}).get("deployedModels", [])
        }
        if endpoint is None or not set(split) <= set(ids):
            missing = ", ".join(sorted(set(split) - set(ids))) or model
            raise MlapplyError(f"version(s) {missing} not deployed on the endpoint of {model}")
        wanted = {ids[name]: share for name, share in split.items() if share}
        self._route(model, endpoint, wanted, f"split {model}'s traffic {dict(split)}")

    def _route(
        self, model: str, endpoint: Mapping[str, Any], split: dict[str, int], what: str
    ) -> None:
        if endpoint.get("trafficSplit") == split:
            return
        self.call(
            self.ai.endpoints().patch(
                name=endpoint["name"],
                updateMask="trafficSplit",
                body={"displayName": endpoint["displayName"], "trafficSplit": split},
            ),
            what,
        )

    def _move_traffic(self, model: str, old: str, new: str) -> None:
        endpoint = self._endpoint(model) or {}
        split = dict(endpoint.get("trafficSplit", {}))
        share = split.pop(old, 0)
        if not share:
            return
        split[new] = split.get(new, 0) + share
        self._route(model, endpoint, split, f"move {model}'s traffic from {old} to {new}")

    def _undeploy(self, model: str, deployed_id: str) -> None:
        """Undeploy one deployment. Vertex undeploys a model only if it has no traffic
        or the request's split moves it elsewhere, and an empty split is an absent one
        (UndeployModelRequest.trafficSplit, aiplatform v1 discovery document, checked
        2026-12-02): its share goes to the others first; the last one needs none."""
        endpoint = self._endpoint(model) or {}
        others = [
            str(d["id"]) for d in endpoint.get("deployedModels", []) if str(d["id"]) != deployed_id
        ]
        split = bodies.without(endpoint.get("trafficSplit", {}), deployed_id, others)
        body: dict[str, Any] = {"deployedModelId": deployed_id}
        if split:
            body["trafficSplit"] = split
        what = f"undeploy {deployed_id} from endpoint {model}"
        at_most_once(
            self.caller,
            what,
            lambda: self.wait(
                self.call(
                    self.ai.endpoints().undeployModel(
                        endpoint=endpoint.get("name", self._endpoint_name(model)), body=body
                    ),
                    what,
                    retry=False,
                ),
                what,
            ),
            lambda: not self._deployed(model, deployed_id),
        )

    def _move_default_alias(
        self, model: str, gone: Mapping[str, Any], versions: Sequence[Mapping[str, Any]]
    ) -> None:
        """Give "default" to the newest other version before ``gone`` is deleted: what
        Vertex does to the alias of a deleted default version is not documented, and
        Google's SDK moves "default" itself (its uploads set it), so mlapply does not
        rely on either (MergeVersionAliasesRequest, aiplatform v1, checked 2026-12-07)."""
        others = [v for v in versions if v.get("versionId") != gone.get("versionId")]
        # The newest version mlapply names, else the newest: never a person's older one.
        heir = max(
            others,
            key=lambda v: (
                bodies.live_name(v.get("versionAliases", [])) is not None,
                int(str(v.get("versionId", 0))),
            ),
        )
        self.call(
            self.ai.models().mergeVersionAliases(
                name=version_resource(heir), body={"versionAliases": ["default"]}
            ),
            f"make version {heir.get('versionId')} of {model} the registry's default",
        )

    @one_model_at_a_time(lambda model, name: model)
    def delete_version(self, model: str, name: str) -> None:
        endpoint = self._endpoint(model)
        for deployed in (endpoint or {}).get("deployedModels", []):
            if deployed.get("displayName") == name:
                self._undeploy(model, str(deployed["id"]))
        versions = self._versions(model)
        wanted = bodies.alias(name)
        found = next((v for v in versions if wanted in v.get("versionAliases", [])), None)
        if found is None:
            return
        stack = found.get("labels", {}).get(LABEL_STACK, "")
        if len(versions) > 1 and "default" in found.get("versionAliases", []):
            self._move_default_alias(model, found, versions)
        if len(versions) == 1:
            self.delete(
                self.ai.models().delete(name=f"{self.parent}/models/{model}"),
                f"delete model {model} (its last version {name})",
            )
        else:
            self.delete(
                self.ai.models().deleteVersion(name=version_resource(found)),
                f"delete version {name} of {model}",
            )
        self.forget_version(stack, model, name)


def version_labels(
    name: str, version: Mapping[str, Any], recorded: Mapping[str, Any]
) -> dict[str, str]:
    """A version's own labels. Vertex returns a version's labels merged with its
    model's (UpdateModel documentation, checked 2026-12-01), so they are the ones
    mlapply recorded when it wrote the version, and the identity hash is always the
    one its alias carries (the live name ends in it)."""
    labels = dict(recorded.get("labels") or version.get("labels", {}))
    labels[LABEL_HASH] = name.rsplit("_", 1)[-1]
    return labels


def version_resource(version: Mapping[str, Any]) -> str:
    """``projects/.../models/M@VERSION_ID``: one version of a Vertex Model."""
    return f"{version['name'].split('@')[0]}@{version['versionId']}"
