"""The status view: live jobs, models and versions as people and programs read them.

Pure: it takes what the backend reported (the snapshot, the usage figures)
and the time; the command line does the reading and prints this.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reconciler.backends.base import JobState, LiveJob, LiveModel, LiveSnapshot, LiveVersion
from reconciler.backends.profile import RuntimeNote
from reconciler.backends.recorded import DONE, ROLLED_BACK, deployed_with, forecasted
from reconciler.backends.served import Served
from reconciler.plan.phrases import duration
from reconciler.stack.resources import Tuning
from reconciler.tuning.study import FINISHED

DescribeRuntime = Callable[[str, str], RuntimeNote | None]


def _runtime(job: LiveJob, describe: DescribeRuntime) -> str | None:
    """What the job runs on, when that is not the runtime it asked for."""
    record = job.record
    asked = record.runtime if record is not None else None
    if asked is None:
        return None
    note = describe(*asked)
    return note.text if note is not None and note.mapped else None


def _study(job: LiveJob, now: float) -> dict[str, Any]:
    """A tuning job's metric, trials and best trial (nothing for other jobs)."""
    if not job.trials:
        return {}
    record = job.record
    tuning = record.tuning if record is not None else None
    return {
        "metric": tuning["metric"] if tuning else None,
        "best_trial": job.best_trial,
        "trials": [
            {
                "id": t.id,
                "params": dict(t.params),
                "state": t.state,
                "metric": t.metric,
                "duration_seconds": ((t.end_time or now) - t.start_time) if t.start_time else None,
                "best": t.id == job.best_trial,
                "lost": t.lost,
                "error": t.error,
            }
            for t in job.trials
        ],
    }


def _trial_line(trial: Mapping[str, Any], metric: str | None) -> str:
    mark = "*" if trial["best"] else " "
    value = f"{metric} {trial['metric']:.4g}" if trial["metric"] is not None else "-"
    took = duration(trial["duration_seconds"]) if trial["duration_seconds"] is not None else "-"
    params = " ".join(f"{k}={_param(v)}" for k, v in trial["params"].items())
    state = trial["state"] + (" (lost)" if trial["lost"] else "")
    best = "  best" if trial["best"] else ""
    return f"    {mark} trial {trial['id']:<4} {state:<17} {value:<16} ran {took:<9} {params}{best}"


def _param(value: Any) -> str:
    """A figure as people write it: whole numbers whole (60000, not 6e+04), others to
    four significant digits."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def status_view(
    stack: str,
    backend: str,
    snapshot: LiveSnapshot,
    usage: Mapping[str, Mapping[str, Any]],
    now: float,
    describe_runtime: DescribeRuntime = lambda runtime, python: None,
) -> dict[str, Any]:
    jobs = [
        {
            "name": j.name,
            "manifest": j.manifest_name,
            "state": j.state.value,
            "created": j.create_time,
            "duration_seconds": ((j.end_time or now) - j.start_time) if j.start_time else None,
            "mean_cpu": usage.get(j.name, {}).get("mean_cpu"),
            "peak_memory_bytes": usage.get(j.name, {}).get("peak_rss_bytes"),
            "cpu_now": usage.get(j.name, {}).get("cpu"),
            "memory_bytes_now": usage.get(j.name, {}).get("rss_bytes"),
            "reported": dict(usage.get(j.name, {}).get("reported") or {}),
            "skipped_reports": usage.get(j.name, {}).get("skipped_reports", 0),
            "error": j.error,
            "runtime": _runtime(j, describe_runtime),
            "scale_tier": record.essence.get("scaleTier") if (record := j.record) else None,
            "metrics": dict(j.metrics),
            "console_url": j.console_url,
            "forecast": _forecast(j, now),
            **_study(j, now),
        }
        for j in sorted(snapshot.jobs, key=lambda j: j.create_time or 0)
    ]
    models = [
        {
            "name": m.name,
            "description": m.description,
            "console_url": m.console_url,
            "versions": [
                {
                    "name": v.name,
                    "state": v.state.value,
                    "default": m.default_version == v.name,
                    "path": v.deployment_uri,
                    "deployed_with": _deployed_figures(v),
                    "traffic": _traffic(m, v.name),
                    "rollout": _rollout(v, snapshot.served.get((m.name, v.name)), now),
                }
                for v in snapshot.versions
                if v.model == m.name
            ],
        }
        for m in snapshot.models
    ]
    return {
        "stack": stack,
        "backend": backend,
        "now": now,
        "jobs": jobs,
        "forecasts": forecast_errors(jobs),
        "models": models,
    }


TRUSTED_ERROR = 0.25
"""A forecast within this of what happened counts as right."""


def _forecast(job: LiveJob, now: float) -> dict[str, Any] | None:
    """What the plan forecast for a job, and how far off it was (or how long is left)."""
    said = forecasted(job.spec)
    if said is None:
        return None
    found: dict[str, Any] = {
        "seconds": said.seconds,
        "low": said.low,
        "high": said.high,
        "basis": said.basis,
        "cost": said.cost,
        "error": None,
        "left": None,
    }
    if job.start_time is None:
        return found
    ran = (job.end_time or now) - job.start_time
    if job.state is JobState.SUCCEEDED and said.seconds > 0:
        found["error"] = (ran - said.seconds) / said.seconds
    elif job.state.active:
        found["left"] = max(said.seconds - ran, 0.0)
    return found


def forecast_errors(jobs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How past forecasts fared: over the succeeded runs that had one, the median of
    their errors (absolute), how many were within ``TRUSTED_ERROR``, and the worst."""
    errors = [
        j["forecast"]["error"] for j in jobs if (j.get("forecast") or {}).get("error") is not None
    ]
    if not errors:
        return {"runs": 0, "median_error": None, "within": 0, "worst": None}
    return {
        "runs": len(errors),
        "median_error": statistics.median(abs(e) for e in errors),
        "within": sum(abs(e) <= TRUSTED_ERROR for e in errors),
        "worst": max(errors, key=abs),
    }


def forecast_text(forecast: Mapping[str, Any] | None) -> str | None:
    """``forecast 60 s (30 s to 90 s): ran 20 % longer`` for a job's line, or None."""
    if not forecast:
        return None
    low, high = duration(forecast["low"]), duration(forecast["high"])
    said = f"forecast {duration(forecast['seconds'])} ({low} to {high})"
    if forecast.get("error") is not None:
        error = forecast["error"]
        how = "longer" if error > 0 else "shorter"
        return f"{said}: ran {abs(error):.0%} {how}"
    if forecast.get("left") is not None:
        return f"{said}: about {duration(forecast['left'])} left"
    return said


def forecasts_line(summary: Mapping[str, Any]) -> str | None:
    """The stack's record of forecasts, so a team can see whether to trust them."""
    runs = summary.get("runs") or 0
    if not runs:
        return None
    return (
        f"Forecasts: {runs} finished run{'s' if runs != 1 else ''} had one; median error "
        f"{summary['median_error']:.0%}, {summary['within']} of {runs} within "
        f"{TRUSTED_ERROR:.0%}, worst {summary['worst']:+.0%}."
    )


def _traffic(model: LiveModel, version: str) -> int:
    """The version's percent of the requests that name no version."""
    if model.traffic:
        return int(model.traffic.get(version, 0))
    return 100 if model.default_version == version else 0


def _rollout(version: LiveVersion, served: Served | None, now: float) -> dict[str, Any] | None:
    state = version.rollout
    if state is None:
        return None
    found: dict[str, Any] = {
        "state": state.state,
        "step": state.step + 1,
        "since": state.since,
        "previous": state.previous,
        "why": state.why,
        "at": state.at,
        "by": state.by,
    }
    if served is not None:
        found["requests"] = served.requests
        found["error_rate"] = served.error_rate
        found["p99_ms"] = served.percentile("p99")
    return found


def rollout_text(rollout: Mapping[str, Any], now: float) -> str:
    """``rolling out: step 2 since 3 min; 5,130 requests, errors 0.2 %, p99 41 ms``."""
    if rollout["state"] == ROLLED_BACK:
        ago = f" {duration(now - rollout['at'])} ago" if rollout.get("at") else ""
        by = f" by {rollout['by']}" if rollout.get("by") else ""
        why = f": {rollout['why']}" if rollout.get("why") else ""
        return f"rolled back{ago}{by}{why}"
    if rollout["state"] == DONE:
        return "rolled out"
    held = duration(now - rollout["since"])
    text = f"rolling out from {rollout['previous']}: step {rollout['step']} for {held}"
    if rollout.get("requests"):
        p99 = rollout.get("p99_ms")
        latency = f", p99 {p99:.0f} ms" if p99 is not None else ""
        text += (
            f"; {rollout['requests']:,} requests, errors {rollout['error_rate'] * 100:.3g} %"
            f"{latency}"
        )
    return text


def _deployed_figures(version: LiveVersion) -> dict[str, float]:
    deployed = deployed_with(version.spec)
    return deployed.metrics if deployed is not None else {}


def _mib(value: float | None) -> str:
    return f"{value / 2**20:.0f} MiB" if value else "- MiB"


def usage_text(job: Mapping[str, Any]) -> str:
    """A job's CPU and memory: now and its report while it runs, else the mean and peak."""
    if JobState(job["state"]).active:
        said = job["reported"]
        step = f"  step {said['step']:.0f}" if "step" in said else ""
        values = ", ".join(f"{k} {_param(v)}" for k, v in said.items() if k != "step")
        cpu = f"{job['cpu_now']:.1f}" if job["cpu_now"] is not None else "-"
        skipped = job.get("skipped_reports") or 0
        return (
            f"{cpu} CPU  {_mib(job['memory_bytes_now'])} now{step}"
            + (f" {values}" if values else "")
            + (f" ({skipped} unreadable hypertune line(s) skipped)" if skipped else "")
        )
    cpu = f"{job['mean_cpu']:.1f} CPU" if job["mean_cpu"] is not None else "- CPU"
    return f"{cpu:<9} peak {_mib(job['peak_memory_bytes'])}"


def job_line(job: Mapping[str, Any], now: float) -> str:
    age = duration(now - job["created"]) if job["created"] else "?"
    took = duration(job["duration_seconds"]) if job["duration_seconds"] is not None else "-"
    return f"  {job['name']:<40} {job['state']:<10} age {age:<9} ran {took:<9} {usage_text(job)}"


def render_status(view: Mapping[str, Any]) -> str:
    now = view["now"]
    lines = [f'Stack "{view["stack"]}" (backend {view["backend"]})']
    lines.append("\nJobs:" if view["jobs"] else "\nJobs: none")
    for job in view["jobs"]:
        lines.append(job_line(job, now))
        if job.get("runtime"):
            lines.append(f"      {job['runtime']}")
        if job.get("console_url"):
            lines.append(f"      {job['console_url']}")
        forecast = forecast_text(job.get("forecast"))
        if forecast:
            lines.append(f"      {forecast}")
        for trial in job.get("trials", ()):
            lines.append(_trial_line(trial, job.get("metric")))
            if trial["error"] and trial["state"] == "FAILED":
                said = [line.strip() for line in trial["error"].splitlines() if line.strip()]
                lines.append(f"          {said[-1]}")
        if job["error"] and job["state"] == "FAILED":
            said = job["error"].splitlines()
            # The last line, and the one before a hint: the exception the hint is about.
            shown = said[-2:] if len(said) > 1 and said[-1].startswith("hint: ") else said[-1:]
            lines.extend(f"      {line.strip()}" for line in shown)
    record = forecasts_line(view.get("forecasts") or {})
    if record:
        lines.append(f"  {record}")
    lines.append("\nModels:" if view["models"] else "\nModels: none")
    for model in view["models"]:
        lines.append(f"  {model['name']}")
        if model.get("console_url"):
            lines.append(f"    {model['console_url']}")
        for version in model["versions"]:
            mark = " (default)" if version["default"] else ""
            figures = ", ".join(f"{k} {_param(v)}" for k, v in version["deployed_with"].items())
            shown = f"  deployed with {figures}" if figures else ""
            split = f" {version['traffic']} % of traffic" if version["traffic"] else ""
            lines.append(f"    {version['name']} {version['state']}{mark}{split}{shown}")
            if version.get("rollout") and version["rollout"]["state"] != DONE:
                lines.append(f"      {rollout_text(version['rollout'], view['now'])}")
    return "\n".join(lines) + "\n"


def progress_text(
    job: LiveJob,
    usage: Mapping[str, Any],
    elapsed: float,
    tail: str,
    tuning: Tuning | None = None,
) -> str:
    """One line on a running job for apply's progress: its state and time, CPU and
    memory now, the trainer's last report (or a study's trials and best), its log."""
    parts = [f"{job.name} {job.state.value.lower()} for {duration(elapsed)}"]
    if usage.get("cpu") is not None:
        parts.append(f"{usage['cpu']:.1f} CPU, {_mib(usage.get('rss_bytes'))}")
    if job.trials:
        parts.append(_trials_text(job, tuning))
    else:
        said = dict(usage.get("reported") or {})
        step = f"step {said.pop('step'):.0f} " if "step" in said else ""
        values = ", ".join(f"{k} {_param(v)}" for k, v in said.items())
        if step or values:
            parts.append((step + values).strip())
    if tail:
        parts.append(tail)
    return " · ".join(parts)


def _trials_text(job: LiveJob, tuning: Tuning | None) -> str:
    """A study's trials against its spec (the compiled one apply waits with; else the
    job's record)."""
    record = job.record
    recorded = record.tuning if record is not None else None
    trials = tuning.max_trials if tuning else recorded["maxTrials"] if recorded else "?"
    metric = tuning.metric if tuning else recorded["metric"] if recorded else "metric"
    counted = [t for t in job.trials if not t.lost]
    done = [t for t in counted if t.state in FINISHED]
    running = [t for t in job.trials if t.state not in FINISHED]
    failed = sum(t.state == "FAILED" for t in done)
    text = f"trials {len(done)} of {trials} done"
    text += f" ({failed} failed)" if failed else ""
    text += f", {len(running)} running"
    best = next((t for t in job.trials if t.id == job.best_trial), None)
    if best is not None and best.metric is not None:
        text += f"; best {metric} {_param(best.metric)} (trial {best.id})"
    return text
