"""Which of mlapply's optional extras provides a module a command imported.

A plain ``pip install mlapply`` has the planner and the command line; the
local backend's jobs, predict and serve need ``mlapply[local]``, the Google
backends ``mlapply[gcp]``, the Ray backend ``mlapply[ray]`` (pyproject.toml's
``[project.optional-dependencies]``: tests/test_tables.py checks each extra
named here is one). A missing one is said as such, never as a bug.
"""

from __future__ import annotations

# Top-level module -> the extra whose requirements install it.
_PROVIDED_BY = {
    "numpy": "local",
    "tensorflow": "local",
    "tensorboard": "local",
    "pandas": "local",
    "hypertune": "local",
    "optuna": "local",
    "aiohttp": "local",
    "googleapiclient": "gcp",
    "google": "gcp",
    "ray": "ray",
}


def extra_for(module: str | None) -> str | None:
    """The extra that installs ``module`` (a dotted name), if one does."""
    return _PROVIDED_BY.get((module or "").partition(".")[0])


def extras_named() -> set[str]:
    return set(_PROVIDED_BY.values())
