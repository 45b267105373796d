"""The Trainer kind: a package source folder or prebuilt package URIs (no live
counterpart; its staged package belongs to the jobs that run it).

Its identity step fingerprints the source tree, file by file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.kinds.base import Handler, IdentityContext
from reconciler.lazy import LazyModule
from reconciler.stack.build import BuildContext, repository_root, training_image
from reconciler.stack.resources import (
    DEFAULT_MODULE,
    Meta,
    Trainer,
    TrainerFlags,
)

if TYPE_CHECKING:
    from reconciler.identity import content
    from reconciler.identity.content import Fingerprint
    from reconciler.manifests import LoadedDocument
else:
    content = LazyModule("reconciler.identity.content")


class TrainerHandler(Handler):
    record = Trainer

    def build(self, ctx: BuildContext, loaded: LoadedDocument, meta: Meta) -> Trainer:
        spec = loaded.doc.data["spec"]
        source = None
        if "source" in spec:
            source = _source(ctx, loaded, spec["source"])
        flags = spec.get("flags", {})
        defaults = TrainerFlags()
        return Trainer(
            meta=meta,
            source=source,
            package_uris=tuple(spec.get("packageUris", ())),
            module=spec.get("module", DEFAULT_MODULE),
            flags=TrainerFlags(
                train=flags.get("train", defaults.train),
                eval=flags.get("eval", defaults.eval),
                output=flags.get("output", defaults.output),
                job_dir=flags.get("jobDir", defaults.job_dir),
            ),
            roles=frozenset(spec["roles"]) if "roles" in spec else None,
            image=training_image(ctx, loaded, spec),
        )

    def identify(self, resource: Any, ctx: IdentityContext) -> Fingerprint | None:
        trainer: Trainer = resource
        if trainer.source is None:
            return None
        return content.trainer_fingerprint(
            trainer.source, ctx.cache, content.inside(_stack_files(ctx), trainer.source)
        )


def _stack_files(ctx: IdentityContext) -> Iterator[str]:
    """The stack's own files, which never go into a package even inside its source:
    the manifests, the datasets' local files and the stack home."""
    stack = ctx.stack
    for resource in stack.everything().values():
        if resource.meta.location.file:
            yield os.path.abspath(resource.meta.location.file)
    yield str(stack.settings.home)
    for dataset in stack.datasets.values():
        sides: Mapping[str, Fingerprint] = ctx.facts.get(dataset.address, {})
        for side in sides.values():
            base = str(dataset.base_dir)
            yield from (os.path.join(base, f) for f in side.files if not f.startswith("gs://"))


def _source(ctx: BuildContext, loaded: LoadedDocument, given: str) -> Path | None:
    folder = loaded.file.path.parent
    path = (folder / given).resolve()
    root = repository_root(folder.resolve(), loaded.file.root.resolve())
    if not path.is_relative_to(root):
        ctx.report(
            f'spec.source: "{given}" is outside the repository ({root})',
            loaded.doc.at(("spec", "source")),
            "a trainer's source must be inside the repository (the folder holding .git, "
            "else the manifests folder) so a plan is reproducible from a checkout",
        )
        return None
    if not path.is_dir():
        ctx.report(
            f'spec.source: folder "{given}" does not exist',
            loaded.doc.at(("spec", "source")),
            f"the path is relative to the manifest file's folder (it resolved to {path})",
        )
        return None
    return path
