"""Saved plans: what a plan file asks for, and the rule that refuses a stale one.

A saved plan is applied only while the manifests (with the trainer files and
data they point at) and the live resources are what the plan saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.diagnostics import MlapplyError
from reconciler.plan.model import Plan


@dataclass(frozen=True)
class SavedPlan:
    document: Mapping[str, Any]
    paths: tuple[str, ...]
    targets: tuple[str, ...]
    retrain: tuple[str, ...]
    max_cost: float | None = None
    allow_over_budget: bool = False


def is_saved_plan(path: str) -> bool:
    """Whether a file is a plan ``plan -o`` wrote, whatever its name: it begins as a JSON
    object naming its ``format_version`` (a manifest, YAML or JSON, has ``apiVersion``)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(256)
    except OSError:
        return False
    return head.lstrip().startswith(b"{") and b'"format_version"' in head


def read_saved(path: str) -> SavedPlan:
    """A plan file checked against its schema, with the options it was made with."""
    from reconciler.render.jsonplan import read_plan_file

    document = read_plan_file(path)
    options = document["options"]
    if not options.get("paths"):
        raise MlapplyError(f"{path}: the plan does not record its manifest paths")
    return SavedPlan(
        document,
        tuple(options["paths"]),
        tuple(options["targets"]),
        tuple(options["retrain"]),
        options.get("max_cost"),
        bool(options.get("allow_over_budget")),
    )


class StalePlan(MlapplyError):
    """A saved plan that no longer describes what apply would do: its own exit status
    (3), so that CI tells "re-plan" from "failed"."""

    exit_code = 3


def refuse_stale(saved: SavedPlan, plan: Plan) -> None:
    """Raise when the plan made now differs from the saved one in what it saw."""
    if saved.document["manifests_digest"] != plan.manifests_digest:
        raise StalePlan(
            "the saved plan is stale: the manifests (or the trainer files or data they point "
            "at) changed since it was made",
            "make the plan again with `mlapply plan -o FILE`; a plan made with --var or "
            "--var-file needs the same ones at apply",
        )
    if saved.document["snapshot_digest"] != plan.snapshot_digest:
        raise StalePlan(
            "the saved plan is stale: the live resources changed since it was made",
            "make the plan again with `mlapply plan -o FILE`",
        )


class OverBudget(MlapplyError):
    """A plan whose forecast exceeds a budget: refused before anything starts, with its
    own exit status (4)."""

    exit_code = 4


def refuse_over_budget(plan: Plan) -> None:
    """Raise when the plan is over budget and was not made with --allow-over-budget."""
    if not plan.over_budget or plan.cost is None:
        return
    from reconciler.render.costs import overrun_line
    from reconciler.render.jsonplan import overrun_json

    listed = "; ".join(overrun_line(overrun_json(o)) for o in plan.cost.overruns)
    raise OverBudget(
        f"the plan is over budget: {listed}; nothing was started",
        "lower what it trains, raise spec.budget in the Stack, or review an override: "
        "`mlapply plan PATH... --allow-over-budget -o FILE`, then `mlapply apply FILE`",
    )
