"""What a stack has deployed: models, their versions' SavedModel folders, the defaults.

Read from the backend's live state, the same records `plan` reads, so the
server and `mlapply predict` answer for exactly what apply deployed. A model
is found by its live name (``taxi_fare``) or its manifest name
(``taxi-fare``), as `gcloud` users and manifest authors each write it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.backends.base import LiveSnapshot


@dataclass(frozen=True)
class DeployedModel:
    name: str
    manifest_name: str
    default_version: str | None
    versions: Mapping[str, str]  # version name -> SavedModel folder


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
