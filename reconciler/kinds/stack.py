"""The Stack kind: the stack's name, backend and settings (no live counterpart).

Its checks are the backend's: the settings its profile needs, and a backend
this version of mlapply cannot act on (a warning: validate and plan still
read the stack).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.backends import registry
from reconciler.diagnostics import Location, MlapplyError
from reconciler.stack.build import BuildContext, repository_root
from reconciler.stack.resources import (
    DEFAULT_PYTHON_VERSION,
    DEFAULT_REGION,
    DEFAULT_RUNTIME_VERSION,
    DEFAULT_SCALE_TIER,
    Budget,
    Meta,
    ServingContainer,
    StackSettings,
)

if TYPE_CHECKING:
    from reconciler.backends.profile import Profile
    from reconciler.manifests import LoadedDocument

_MINIMAL_STACK = "apiVersion: mlapply/v1 / kind: Stack / metadata: {name: my-stack}"


HOME_BLOCK, HOME = "local", ".mlapply"
"""Where the stack home is written (``spec.local.home``, beside the local backend's
settings, where it always was) and its default: every backend keeps caches there."""

HOME_OUTSIDE_VARIABLE = "MLAPPLY_ALLOW_HOME_OUTSIDE_REPO"
"""Set to 1 on the command line to let a trusted stack keep its home outside the repository."""


class StackHandler:
    """The Stack's row of the table: its settings are built before every other kind."""

    record = StackSettings
    kind = StackSettings.kind
    prefix = StackSettings.prefix

    def settings(self, ctx: BuildContext, loaded: LoadedDocument | None) -> StackSettings:
        """The Stack's settings; placeholders when it is missing or invalid.

        Placeholders let every other document still be checked; the errors
        already reported keep the result from being used.
        """
        documents = ctx.manifests.documents
        stacks = [d for d in documents if d.kind == StackSettings.kind]
        if not stacks and documents:
            ctx.report(
                "no Stack document found",
                documents[0].doc.location,
                "add one, e.g. a stack.yaml with: " + _MINIMAL_STACK,
            )
        for extra in stacks[1:]:
            ctx.report(
                f"more than one Stack (the first is at {stacks[0].doc.location})",
                extra.doc.location,
                "a set of manifests declares exactly one Stack",
            )
        spec = loaded.doc.data.get("spec", {}) if loaded else {}
        defaults = spec.get("defaults", {})
        root = loaded.file.path.parent if loaded else Path.cwd()
        backend = spec.get("backend", registry.DEFAULT)
        # The backend's own block, parsed by its folder (an unknown backend: its default's).
        block = registry.settings(backend if backend in registry.BACKENDS else registry.DEFAULT)
        backend_settings = block.parse(spec.get(block.key, {}), root)
        region = defaults.get("region") or self._region(spec, root) or DEFAULT_REGION
        meta = ctx.meta(loaded, with_defaults=False) if loaded else _placeholder()
        ctx.default_labels = defaults.get("labels", {})
        settings = StackSettings(
            meta=meta,
            backend=backend,
            root=root,
            home=(root / spec.get(HOME_BLOCK, {}).get("home", HOME)).resolve(),
            backend_settings=backend_settings,
            region=region,
            runtime_version=defaults.get("runtimeVersion") or self._default_runtime(backend),
            python_version=defaults.get("pythonVersion") or self._default_python(backend),
            scale_tier=defaults.get("scaleTier", DEFAULT_SCALE_TIER),
            serving_container=(
                ServingContainer.parse(defaults["servingContainer"])
                if "servingContainer" in defaults
                else None
            ),
            serving_container_at=(
                loaded.doc.at(("spec", "defaults", "servingContainer"))
                if loaded is not None and "servingContainer" in defaults
                else None
            ),
            budget=_budget(loaded, spec.get("budget")),
            node_hour=spec.get("prices", {}).get("nodeHour"),
        )
        if loaded is not None:
            self._check_backend(ctx, loaded, settings)
            self._check_home(ctx, loaded, settings.home)
        return settings

    @staticmethod
    def _check_home(ctx: BuildContext, loaded: LoadedDocument, home: Path) -> None:
        """Plan writes only inside the stack home, and the home only inside the
        repository: a pull request cannot make plan write elsewhere (its caches)."""
        root = repository_root(loaded.file.path.parent.resolve(), loaded.file.root.resolve())
        if home.is_relative_to(root) or os.environ.get(HOME_OUTSIDE_VARIABLE) == "1":
            return
        spec = loaded.doc.data.get("spec", {})
        ctx.report(
            f"spec.{HOME_BLOCK}.home {home} is outside the repository ({root})",
            loaded.doc.at(("spec", HOME_BLOCK, "home"))
            if "home" in spec.get(HOME_BLOCK, {})
            else loaded.doc.location,
            "keep the stack home inside the repository (the default is .mlapply beside the "
            f"Stack), or, for a checkout you trust, run with {HOME_OUTSIDE_VARIABLE}=1",
        )

    @staticmethod
    def _profile(backend: str) -> Profile:
        """The backend's profile; an unknown backend (reported by the schema) reads as the
        default's, so that every other document can still be checked."""
        try:
            return registry.profile(backend)
        except MlapplyError:
            return registry.profile(registry.DEFAULT)

    @staticmethod
    def _region(spec: Mapping[str, Any], root: Path) -> str | None:
        """The region a backend's block gives (``spec.gcp.region``), whichever the stack's
        backend: a stack moved between backends keeps its jobs' region, and identity."""
        for name in registry.BACKENDS:
            block = registry.settings(name)
            if block.key in spec:
                found = block.region(block.parse(spec[block.key], root))
                if found:
                    return found
        return None

    def _default_runtime(self, backend: str) -> str:
        return self._profile(backend).default_runtime or DEFAULT_RUNTIME_VERSION

    def _default_python(self, backend: str) -> str:
        try:
            return registry.profile(backend).default_python
        except MlapplyError:
            return DEFAULT_PYTHON_VERSION  # an unknown backend is reported by its own check

    def _check_backend(
        self, ctx: BuildContext, loaded: LoadedDocument, settings: StackSettings
    ) -> None:
        profile = registry.profile(settings.backend)
        where = (
            loaded.doc.at(("spec", "backend"))
            if "backend" in loaded.doc.data.get("spec", {})
            else loaded.doc.location
        )
        if profile.notice:
            ctx.warn(f"backend {settings.backend}: {profile.notice}", where)
        if profile.prices is not None and "prices" in loaded.doc.data.get("spec", {}):
            ctx.report(
                f"backend {settings.backend} prices from its own list ({profile.prices.title}, "
                f"{profile.prices.source}); spec.prices is for backends without one",
                loaded.doc.at(("spec", "prices")),
                "remove spec.prices (it is used on the local and ray backends)",
            )
        problem = profile.settings_problem(settings)
        if problem:
            key = registry.settings(settings.backend).key
            spec = loaded.doc.data.get("spec", {})
            ctx.report(problem, loaded.doc.at(("spec", key)) if key in spec else where)


def _budget(loaded: LoadedDocument | None, given: Mapping[str, Any] | None) -> Budget:
    if not given or loaded is None:
        return Budget()
    at = loaded.doc.at(("spec", "budget"))
    return Budget(
        per_apply=given.get("perApply"),
        per_job=given.get("perJob"),
        serving_per_month=given.get("servingPerMonth"),
        # Relative to the Stack's folder: the plan (a pull-request comment) names it so.
        location=str(at._replace(file=os.path.relpath(at.file, loaded.file.path.parent))),
    )


def _placeholder() -> Meta:
    return Meta("invalid", {}, False, Location(""))
