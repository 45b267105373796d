"""The console's view models: what its JSON endpoints answer, from what was read.

Pure: the stack's plan (as the JSON plan format has it), the status view, usage
series and log text go in; plain JSON-ready dictionaries come out, with the
bounds the page relies on (points per task, lines of log).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from reconciler.backends.recorded import DONE
from reconciler.backends.served import Served
from reconciler.render.costs import change_line, overrun_lines, summary_lines
from reconciler.render.status import forecast_text, forecasts_line, rollout_text

MAX_POINTS = 600
"""Points per task answered at most (the newest); the local store keeps no more."""
MAX_LOG_LINES = 1000


def stack_view(
    name: str,
    backend: str,
    plan: Mapping[str, Any] | None,
    planned_at: float | None,
    plan_error: str | None,
    last_apply: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The stack: whether it is converged (a read-only plan: what would change, why)."""
    changes = [
        {
            "address": c["address"],
            "action": c["action"],
            "reasons": [r["text"] for r in c.get("reasons", ())],
            "forecast": ": ".join(found) if (found := change_line(c)) else None,
        }
        for c in (plan or {}).get("changes", ())
        if c["action"] != "no-op"
    ]
    return {
        "stack": name,
        "backend": backend,
        "converged": None if plan is None else bool(plan["summary"]["converged"]),
        "changes": changes,
        "cost": [*summary_lines(plan), *overrun_lines(plan)] if plan is not None else [],
        "planned_at": planned_at,
        "plan_error": plan_error,
        "last_apply": dict(last_apply) if last_apply else None,
    }


def jobs_view(
    status: Mapping[str, Any], tensorboard: str | None, runs: Mapping[str, str]
) -> dict[str, Any]:
    """The status view's jobs, each with its TensorBoard link (``runs``: job name to
    run name) where TensorBoard serves the stack."""
    jobs = []
    for job in reversed(status["jobs"]):  # newest first
        run = runs.get(job["name"])
        link = f"{tensorboard}/?runFilter={quote(run, safe='')}#timeseries" if run else None
        said = forecast_text(job.get("forecast"))
        jobs.append(
            {**job, "tensorboard_url": link if tensorboard else None, "forecast_text": said}
        )
    return {
        "now": status["now"],
        "jobs": jobs,
        "forecasts": forecasts_line(status.get("forecasts") or {}),
    }


def models_view(
    status: Mapping[str, Any],
    plan: Mapping[str, Any] | None,
    served: Mapping[str, Mapping[str, Sequence[tuple[float, Served]]]] | None = None,
) -> dict[str, Any]:
    """Models and their versions (the default, the traffic each takes, the figures each
    was deployed with, a rollout under way or rolled back), what each version served
    over time (``served``: model -> version -> (time, figures)), and the versions a
    gate or a rollback holds back, with the plan's words."""
    held = [
        {"address": c["address"], "reasons": [r["text"] for r in c.get("reasons", ())]}
        for c in (plan or {}).get("changes", ())
        if c["action"] == "blocked"
        and any(r["code"] in ("gate", "rollout") for r in c.get("reasons", ()))
    ]
    now = status["now"]
    models = [
        {
            **model,
            "versions": [
                {
                    **version,
                    "rollout_text": (
                        rollout_text(version["rollout"], now)
                        if version.get("rollout") and version["rollout"]["state"] != DONE
                        else None
                    ),
                }
                for version in model["versions"]
            ],
            "served": {
                version: {
                    "time": [at for at, _ in points][-MAX_POINTS:],
                    "requests": [f.requests for _, f in points][-MAX_POINTS:],
                    "errors": [f.errors for _, f in points][-MAX_POINTS:],
                }
                for version, points in sorted((served or {}).get(model["name"], {}).items())
            },
        }
        for model in status["models"]
    ]
    return {"models": models, "held": held}


def usage_view(
    series: Mapping[str, Sequence[tuple[float, float, int]]], since: float | None
) -> dict[str, Any]:
    """Each task's series as columns (time, CPUs, memory bytes), the newest
    ``MAX_POINTS`` after ``since``."""
    tasks = {}
    for task, points in sorted(series.items()):
        shown = [p for p in points if since is None or p[0] > since][-MAX_POINTS:]
        tasks[task] = {
            "time": [p[0] for p in shown],
            "cpu": [p[1] for p in shown],
            "memory_bytes": [p[2] for p in shown],
        }
    return {"tasks": tasks}


def log_view(text: str, lines: int) -> dict[str, Any]:
    """The last ``lines`` lines of a log (at most ``MAX_LOG_LINES``)."""
    every = text.splitlines()
    wanted = max(1, min(lines, MAX_LOG_LINES))
    return {"lines": every[-wanted:], "truncated": len(every) > wanted}
