"""A distributed Keras trainer on a Keras 3 runtime: said before it fails.

Keras 3 (TensorFlow's Keras from 2.16) fails in ``model.fit`` under
``tf.distribute.MultiWorkerMirroredStrategy`` with more than one worker
(tensorflow/tensorflow#72388; keras-team/keras#20585, where TensorFlow's own
multi-worker tutorial fails on 2.16 to 2.19; both checked 2026-12-07). The fix
people use is Keras 2 from the ``tf_keras`` package, chosen with
``TF_USE_LEGACY_KERAS=1`` before TensorFlow is imported. It fails on every
backend alike, after the machines are up, so validate and plan say it first.

The trainer's files are read as text only (never run), a bounded number of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.stack import releases
from reconciler.stack.releases import KERAS_3_FROM

if TYPE_CHECKING:
    from reconciler.backends.compiled import Pool
    from reconciler.stack.resources import Trainer, TrainingJob

STRATEGY = "MultiWorkerMirroredStrategy"
LEGACY = "TF_USE_LEGACY_KERAS"
MOST_FILES = 200
MOST_BYTES = 1 << 20
"""Per file: a trainer module larger than this is not a trainer's source."""


def _sources(folder: Path) -> list[str]:
    texts = []
    for path in sorted(folder.rglob("*.py"))[:MOST_FILES]:
        try:
            if path.is_file() and path.stat().st_size <= MOST_BYTES:
                texts.append(path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
    return texts


def fits_under_the_strategy(folder: Path) -> bool:
    """Whether a trainer's source calls ``.fit(`` and names the strategy, and does not
    choose its Keras itself (``TF_USE_LEGACY_KERAS``)."""
    code = "\n".join(_sources(folder))
    return STRATEGY in code and ".fit(" in code and LEGACY not in code


def problem(
    job: TrainingJob, trainer: Trainer, pools: Sequence[Pool], scanned: dict[Path, bool]
) -> tuple[str, str] | None:
    """(what will fail, the fix) for a multi-worker Keras trainer on Keras 3, or None.
    ``scanned`` keeps each trainer folder's answer: many jobs share a trainer."""
    found = releases.parse(job.runtime_version)
    if found is None or found < KERAS_3_FROM or trainer.source is None:
        return None
    if sum(p.replicas for p in pools) < 2 or job.env.get(LEGACY) == "1":
        return None
    if trainer.source not in scanned:
        scanned[trainer.source] = fits_under_the_strategy(trainer.source)
    if not scanned[trainer.source]:
        return None
    return (
        f"runtime {job.runtime_version} trains with Keras 3, whose model.fit fails under "
        f"{STRATEGY} with more than one worker (tensorflow/tensorflow#72388): this "
        f'trainer ("{trainer.meta.name}") uses both, on {sum(p.replicas for p in pools)} '
        "replicas",
        "train it with Keras 2: install tf_keras (the release matching TensorFlow, e.g. "
        f"tf_keras~={job.runtime_version}.0) with the trainer (its install_requires; on a "
        "cluster you run, in the cluster's environment) and set spec.env "
        f"{{{LEGACY}: '1'}} on the job; or declare runtimeVersion 2.15 (Keras 2), or train "
        "on one machine",
    )
