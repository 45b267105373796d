"""The Stack kind: the stack's name, backend and settings (no live counterpart).

Its checks are the backend's: the settings its profile needs, and a backend
this version of mlapply cannot act on (a warning: validate and plan still
read the stack).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.backends import registry
from reconciler.diagnostics import Location, MlapplyError
from reconciler.stack.build import BuildContext, repository_root
from reconciler.stack.resources import (
    DEFAULT_PYTHON_VERSION,
    DEFAULT_REGION,
    DEFAULT_RUNTIME_VERSION,
    DEFAULT_SCALE_TIER,
    GcpSettings,
    LocalSettings,
    Meta,
    StackSettings,
)

if TYPE_CHECKING:
    from reconciler.manifests import LoadedDocument

_MINIMAL_STACK = "apiVersion: mlapply/v1 / kind: Stack / metadata: {name: my-stack}"


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
        meta = ctx.meta(loaded, with_defaults=False) if loaded else _placeholder()
        ctx.default_labels = defaults.get("labels", {})
        backend = spec.get("backend", registry.DEFAULT)
        settings = StackSettings(
            meta=meta,
            backend=backend,
            root=root,
            local=local,
            gcp=gcp,
            region=region,
            runtime_version=defaults.get("runtimeVersion") or self._default_runtime(backend),
            python_version=defaults.get("pythonVersion") or self._default_python(backend),
            scale_tier=defaults.get("scaleTier", DEFAULT_SCALE_TIER),
        )
        if loaded is not None:
            self._check_backend(ctx, loaded, settings)
            self._check_home(ctx, loaded, settings.local.home)
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
            f"spec.local.home {home} is outside the repository ({root})",
            loaded.doc.at(("spec", "local", "home"))
            if "home" in spec.get("local", {})
            else loaded.doc.location,
            "keep the stack home inside the repository (the default is .mlapply beside the "
            f"Stack), or, for a checkout you trust, run with {HOME_OUTSIDE_VARIABLE}=1",
        )

    @staticmethod
    def _default_runtime(backend: str) -> str:
        try:
            return registry.profile(backend).default_runtime or DEFAULT_RUNTIME_VERSION
        except MlapplyError:
            return DEFAULT_RUNTIME_VERSION

    @staticmethod
    def _default_python(backend: str) -> str:
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
        problem = profile.settings_problem(settings)
        if problem:
            spec = loaded.doc.data.get("spec", {})
            ctx.report(problem, loaded.doc.at(("spec", "gcp")) if "gcp" in spec else where)


def _placeholder() -> Meta:
    return Meta("invalid", {}, False, Location(""))
