"""The ``--logdir_spec`` a TensorBoard of a stack's runs is started with.

TensorBoard splits the spec at every comma, then each part at its first colon
into a run name and a folder (tensorboard ``data_ingester._parse_event_files_spec``,
2.21, read 2026-12-06): a folder holding a comma cannot be named in it, and a name
holding a colon would lend the rest to the folder. Such a run is refused with the
reason, never shown as another folder's charts.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.diagnostics import MlapplyError


def logdir_spec(runs: Sequence[tuple[str, str]]) -> str:
    for name, folder in runs:
        if "," in folder or ":" in name or "," in name:
            raise MlapplyError(
                f"TensorBoard cannot show run {name!r}: its folder {folder} holds a comma "
                "(TensorBoard's --logdir_spec separates runs with commas)"
                if "," in folder
                else f"TensorBoard cannot show run {name!r}: its name holds ':' or ','",
                "keep the stack home on a path without commas",
            )
    return ",".join(f"{name}:{folder}" for name, folder in runs)
