"""The Dataset kind: train and eval paths, globs or gs:// URIs (no live counterpart).

Its identity step fingerprints each side (``content``: the files; ``paths``:
the patterns); the jobs that read it hash those fingerprints.
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.kinds.base import Handler, IdentityContext
from reconciler.lazy import LazyModule
from reconciler.stack.build import BuildContext, repository_root
from reconciler.stack.resources import Dataset, Meta

if TYPE_CHECKING:
    from reconciler.identity import content
    from reconciler.identity.content import Fingerprint
    from reconciler.manifests import LoadedDocument
else:
    content = LazyModule("reconciler.identity.content")


DATA_OUTSIDE_VARIABLE = "MLAPPLY_ALLOW_DATA_OUTSIDE_REPO"
"""Set to 1 on the command line to let a trusted stack read local data outside the
repository (as ``kinds.stack.HOME_OUTSIDE_VARIABLE`` lets its home be there)."""


class DatasetHandler(Handler):
    record = Dataset

    def build(self, ctx: BuildContext, loaded: LoadedDocument, meta: Meta) -> Dataset:
        spec = loaded.doc.data["spec"]
        base = loaded.file.path.parent
        root = (
            None
            if os.environ.get(DATA_OUTSIDE_VARIABLE) == "1"
            else repository_root(base.resolve(), loaded.file.root.resolve())
        )
        train, evaluation = _as_tuple(spec["train"]), _as_tuple(spec.get("eval", []))
        for key, patterns in (("train", train), ("eval", evaluation)):
            for i, pattern in enumerate(patterns):
                if pattern.startswith("gs://"):
                    continue
                path = ("spec", key) if isinstance(spec[key], str) else ("spec", key, i)
                where = ".".join(map(str, path))
                if root is not None and not _within(base, pattern, root):
                    ctx.report(
                        f'{where}: "{pattern}" is outside the repository ({root})',
                        loaded.doc.at(path),
                        "keep local data inside the repository (a plan reads only there: it "
                        "runs on pull requests), or use gs:// URIs; for a checkout you trust, "
                        f"run with {DATA_OUTSIDE_VARIABLE}=1",
                    )
                elif next(glob.iglob(str(base / pattern), recursive=True), None) is None:
                    ctx.warn(
                        f'{where}: "{pattern}" matches no files yet',
                        loaded.doc.at(path),
                        "local paths are relative to the manifest file",
                    )
        fingerprint = spec.get("fingerprint", "content")
        return Dataset(meta, train, evaluation, fingerprint, base, root)

    def identify(self, resource: Any, ctx: IdentityContext) -> dict[str, Fingerprint]:
        dataset: Dataset = resource
        sides = {"train": dataset.train, "eval": dataset.eval}
        return {
            side: content.data_fingerprint(dataset, patterns, ctx.cache, ctx.remote)
            for side, patterns in sides.items()
            if patterns
        }


def _within(base: Path, pattern: str, root: Path) -> bool:
    """Whether a pattern stays inside ``root``: its fixed part (before the first
    wildcard) as written and through any link it crosses."""
    fixed = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
    lexical = Path(os.path.normpath(base.resolve() / fixed))
    return lexical.is_relative_to(root) and Path(os.path.realpath(lexical)).is_relative_to(root)


def _as_tuple(value: str | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)
