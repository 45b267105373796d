"""The Dataset kind: train and eval paths, globs or gs:// URIs (no live counterpart).

Its identity step fingerprints each side (``content``: the files; ``paths``:
the patterns); the jobs that read it hash those fingerprints.
"""

from __future__ import annotations

import glob
from typing import TYPE_CHECKING, Any

from reconciler.kinds.base import Handler, IdentityContext
from reconciler.lazy import LazyModule
from reconciler.stack.build import BuildContext
from reconciler.stack.resources import Dataset, Meta

if TYPE_CHECKING:
    from reconciler.identity import content
    from reconciler.identity.content import Fingerprint
    from reconciler.manifests import LoadedDocument
else:
    content = LazyModule("reconciler.identity.content")


class DatasetHandler(Handler):
    record = Dataset

    def build(self, ctx: BuildContext, loaded: LoadedDocument, meta: Meta) -> Dataset:
        spec = loaded.doc.data["spec"]
        base = loaded.file.path.parent
        train, evaluation = _as_tuple(spec["train"]), _as_tuple(spec.get("eval", []))
        for key, patterns in (("train", train), ("eval", evaluation)):
            for i, pattern in enumerate(patterns):
                if pattern.startswith("gs://"):
                    continue
                if not glob.glob(str(base / pattern), recursive=True):
                    path = ("spec", key) if isinstance(spec[key], str) else ("spec", key, i)
                    ctx.warn(
                        f'{".".join(map(str, path))}: "{pattern}" matches no files yet',
                        loaded.doc.at(path),
                        "local paths are relative to the manifest file",
                    )
        return Dataset(meta, train, evaluation, spec.get("fingerprint", "content"), base)

    def identify(self, resource: Any, ctx: IdentityContext) -> dict[str, Fingerprint]:
        dataset: Dataset = resource
        sides = {"train": dataset.train, "eval": dataset.eval}
        return {
            side: content.data_fingerprint(dataset, patterns, ctx.cache, ctx.remote)
            for side, patterns in sides.items()
            if patterns
        }


def _as_tuple(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)
