"""The desired state: each live-backed resource's identity, live name and labels.

A resource's *essence* is its normalised spec with defaults filled and
references replaced by the referenced resource's identity; its hash is the
sha256 of the essence's canonical JSON. Labels, descriptions and ``default``
are not identity: they are *mutable* fields, updated in place. *Details*
(per-file lists) explain changes but are summarised by digests in the essence.
Each kind computes its own (``reconciler.kinds``); this module holds the
records and what is common to all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from reconciler.identity.canonical import digest
from reconciler.stack.resources import (
    LABEL_HASH,
    LABEL_KIND,
    LABEL_NAME,
    LABEL_PROTECTED,
    LABEL_STACK,
    Stack,
)


class Compiled(Protocol):
    """A kind's compiled form (``backends.compiled``): what its identity hashes."""

    def essence(self) -> Mapping[str, Any]: ...


C_co = TypeVar("C_co", bound=Compiled, covariant=True)


@dataclass(frozen=True)
class DesiredResource(Generic[C_co]):
    address: str
    kind: str
    name: str
    """The manifest's metadata.name."""
    live_name: str
    """The name of the live resource: ``taxifare_dnn_1a2b3c4d`` for a job."""
    hash: str
    """The short identity hash."""
    compiled: C_co
    """The kind's compiled form (a TrainingJob's CompiledJob), compiled once."""
    essence: Mapping[str, Any]
    """``compiled.essence()``, kept: what the hash is of, and what plans compare."""
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
                LABEL_KIND: self.kind.lower(),
                LABEL_HASH: self.hash,
            }
        )
        if self.prevent_destroy:
            labels[LABEL_PROTECTED] = "true"
        return labels

    def record(self) -> dict[str, Any]:
        """What a backend keeps with the live resource so a later plan can explain a
        change: the essence, the details and the mutable fields
        (``backends.recorded`` reads it back, typed)."""
        return {
            "format": RECORD_FORMAT,
            "essence": dict(self.essence),
            "details": dict(self.details),
            "mutable": dict(self.mutable),
        }


@dataclass(frozen=True)
class DesiredState:
    stack: Stack
    resources: Mapping[str, DesiredResource[Any]]
    digest: str
    """Digest of everything declared: a saved plan is stale when it changes."""


T = TypeVar("T")


def compiled_as(want: DesiredResource[Any], kind: type[T]) -> T:
    """A desired resource's compiled form, as the kind it must be."""
    found = want.compiled
    assert isinstance(found, kind), f"{want.address} compiles to {type(found).__name__}"
    return found


RECORD_FORMAT = 1
"""The shape of ``DesiredResource.record()`` (``backends.recorded`` reads it)."""


def id_name(name: str) -> str:
    """A manifest name as a Cloud ML Engine id: ``taxifare-dnn`` -> ``taxifare_dnn``."""
    return name.replace("-", "_")


def declared_digest(stack: Stack, resources: Mapping[str, DesiredResource[Any]]) -> str:
    return digest(
        {
            "stack": stack.name,
            "backend": stack.settings.backend,
            "resources": {
                a: {"essence": r.essence, "mutable": r.mutable, "protected": r.prevent_destroy}
                for a, r in resources.items()
            },
        }
    )
