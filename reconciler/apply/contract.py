"""The trainer contract: the argument list a job's process gets (DESIGN.md).

The dataset's paths, the output dir and the job dir under the flag names the
Trainer declares (a flag set to null is not passed), then each
hyperparameter as ``--name=value``, then the extra args, verbatim.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.stack.resources import Dataset, Scalar, Trainer, TrainingJob


def _text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def data_paths(dataset: Dataset, patterns: tuple[str, ...]) -> str:
    """Comma-separated paths: local ones made absolute, gs:// ones as written."""
    return ",".join(p if p.startswith("gs://") else str(dataset.base_dir / p) for p in patterns)


def output_dir(job: TrainingJob, job_dir: Path) -> Path:
    if job.output_dir is None:
        return job_dir / "output"
    return job_dir / job.output_dir


def trainer_args(
    job: TrainingJob, trainer: Trainer, dataset: Dataset | None, job_dir: Path, output: Path
) -> list[str]:
    args: list[str] = []
    flags = trainer.flags
    if dataset is not None:
        if flags.train and dataset.train:
            args.append(f"{flags.train}={data_paths(dataset, dataset.train)}")
        if flags.eval and dataset.eval:
            args.append(f"{flags.eval}={data_paths(dataset, dataset.eval)}")
    if flags.output:
        args.append(f"{flags.output}={output}")
    if flags.job_dir:
        args.append(f"{flags.job_dir}={job_dir}")
    args.extend(f"--{name}={_text(value)}" for name, value in job.hyperparameters.items())
    args.extend(job.args)
    return args
