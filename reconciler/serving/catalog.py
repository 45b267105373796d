"""What a stack has deployed: models, their versions' SavedModel folders, the defaults.

Read from the backend's live state, the same records `plan` reads, so the
server and `mlapply predict` answer for exactly what apply deployed. A model
is found by its live name (``taxi_fare``) or its manifest name
(``taxi-fare``), as `gcloud` users and manifest authors each write it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from reconciler.backends.base import LiveSnapshot


@dataclass(frozen=True)
class DeployedModel:
    name: str
    manifest_name: str
    default_version: str | None
    versions: Mapping[str, str]  # version name -> SavedModel folder
    traffic: Mapping[str, int] = field(default_factory=dict)
    """Percent by version of the requests that name none, while a rollout splits
    them; empty: the default answers them all."""

    def routes(self) -> tuple[tuple[str, str, int], ...]:
        """(version, SavedModel folder, weight) answering requests that name no
        version: the split's deployed versions, else the default alone."""
        split = [(v, p) for v, p in sorted(self.traffic.items()) if p > 0 and v in self.versions]
        if split:
            return tuple((v, self.versions[v], p) for v, p in split)
        if self.default_version in self.versions:
            version = self.default_version
            assert version is not None
            return ((version, self.versions[version], 100),)
        return ()


@dataclass(frozen=True)
class Catalog:
    models: Mapping[str, DeployedModel]

    @classmethod
    def from_snapshot(
        cls, snapshot: LiveSnapshot, versions: Mapping[str, Mapping[str, str]]
    ) -> Catalog:
        """The snapshot's models, with ``versions`` (model -> version -> SavedModel folder:
        the ``LocalModels`` facet's reading of the snapshot)."""
        models = {
            model.name: DeployedModel(
                model.name,
                model.manifest_name or model.name,
                model.default_version,
                versions.get(model.name, {}),
                model.traffic,
            )
            for model in snapshot.models
        }
        return cls(models)

    def find(self, name: str) -> DeployedModel | None:
        found = self.models.get(name) or self.models.get(name.replace("-", "_"))
        if found is None:
            found = next((m for m in self.models.values() if m.manifest_name == name), None)
        return found

    def describe(self) -> str:
        names = sorted(self.models)
        return ", ".join(names) if names else "none"
