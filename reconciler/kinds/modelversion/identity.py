"""A ModelVersion's identity: compiled once (``CompiledVersion``), its source being its
job's live name (so a job that trains again is a new version) or its URI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reconciler.lazy import LazyModule

if TYPE_CHECKING:
    import reconciler.backends.compiled as compiled_forms
    import reconciler.identity.desired as desired_state
    from reconciler.backends.compiled import CompiledVersion
    from reconciler.identity import canonical
    from reconciler.identity.desired import DesiredResource
    from reconciler.kinds.base import IdentityContext
    from reconciler.stack.resources import ModelVersion
else:
    canonical = LazyModule("reconciler.identity.canonical")
    compiled_forms = LazyModule("reconciler.backends.compiled")
    desired_state = LazyModule("reconciler.identity.desired")


def compiled_version(want: DesiredResource[Any]) -> CompiledVersion:
    return desired_state.compiled_as(want, compiled_forms.CompiledVersion)


def identify(version: ModelVersion, ctx: IdentityContext) -> DesiredResource[CompiledVersion]:
    stack = ctx.stack
    depends = [stack.models[version.model].address]
    job: str | None = None
    if version.source.job:
        source: DesiredResource[Any] = ctx.facts[stack.jobs[version.source.job].address]
        job = source.live_name
        depends.append(source.address)
    compiled = compiled_forms.CompiledVersion(
        model=desired_state.id_name(version.model),
        job=job,
        export_path=version.source.export_path if job else None,
        uri=None if job else version.source.uri,
        runtime_version=version.runtime_version,
        python_version=version.python_version,
        framework=version.framework,
        machine_type=version.machine_type,
        scaling=version.scaling,
        serving_container=version.serving_container,
    )
    essence = compiled.essence()
    hash_ = canonical.short(canonical.digest(essence))
    return desired_state.DesiredResource(
        address=version.address,
        kind=version.kind,
        name=version.meta.name,
        live_name=f"{desired_state.id_name(version.meta.name)}_{hash_}",
        hash=hash_,
        compiled=compiled,
        essence=essence,
        mutable={
            "labels": dict(version.meta.labels),
            "description": version.description,
            "default": version.default,
        },
        depends_on=tuple(depends),
        prevent_destroy=version.meta.prevent_destroy,
    )
