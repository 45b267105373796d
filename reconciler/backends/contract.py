"""The trainer contract: the argument list a job's process gets (DESIGN.md).

The dataset's paths, the output dir and the job dir under the flag names the
Trainer declares (a flag set to null is not passed), then each
hyperparameter as ``--name=value``, then the extra args, verbatim. Paths
are text: local folders for the local backend, gs:// URIs for the cloud.
"""

from __future__ import annotations

from collections.abc import Callable

from reconciler.stack.resources import Dataset, Scalar, Trainer, TrainingJob


def _text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def local_path(dataset: Dataset, pattern: str) -> str:
    """A dataset pattern as the local backend passes it: made absolute, gs:// as written."""
    return pattern if pattern.startswith("gs://") else str(dataset.base_dir / pattern)


def output_dir(job: TrainingJob, job_dir: str) -> str:
    return f"{job_dir.rstrip('/')}/{job.output_dir or 'output'}"


def trainer_args(
    job: TrainingJob,
    trainer: Trainer,
    dataset: Dataset | None,
    job_dir: str,
    output: str,
    where: Callable[[Dataset, str], str] = local_path,
) -> list[str]:
    """The argument list; ``where`` turns a dataset pattern into the path the job reads."""
    args: list[str] = []
    flags = trainer.flags
    if dataset is not None:
        if flags.train and dataset.train:
            args.append(f"{flags.train}={','.join(where(dataset, p) for p in dataset.train)}")
        if flags.eval and dataset.eval:
            args.append(f"{flags.eval}={','.join(where(dataset, p) for p in dataset.eval)}")
    if flags.output:
        args.append(f"{flags.output}={output}")
    if flags.job_dir:
        args.append(f"{flags.job_dir}={job_dir}")
    args.extend(f"--{name}={_text(value)}" for name, value in job.hyperparameters.items())
    args.extend(job.args)
    return args
