"""The status view: live jobs, models and versions as people and programs read them.

Pure: it takes what the backend reported (the snapshot, the usage figures)
and the time; the command line does the reading and prints this.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from reconciler.backends.base import LiveJob, LiveSnapshot
from reconciler.backends.profile import RuntimeNote
from reconciler.plan.phrases import duration

DescribeRuntime = Callable[[str, str], RuntimeNote | None]


def _runtime(job: LiveJob, describe: DescribeRuntime) -> str | None:
    """What the job runs on, when that is not the runtime it asked for."""
    essence = (job.spec or {}).get("essence") or {}
    runtime, python = essence.get("runtimeVersion"), essence.get("pythonVersion")
    if not isinstance(runtime, str) or not isinstance(python, str):
        return None
    note = describe(runtime, python)
    return note.text if note is not None and note.mapped else None


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
            "error": j.error,
            "runtime": _runtime(j, describe_runtime),
        }
        for j in sorted(snapshot.jobs, key=lambda j: j.create_time or 0)
    ]
    models = [
        {
            "name": m.name,
            "description": m.description,
            "versions": [
                {
                    "name": v.name,
                    "state": v.state.value,
                    "default": m.default_version == v.name,
                    "path": v.deployment_uri,
                }
                for v in snapshot.versions
                if v.model == m.name
            ],
        }
        for m in snapshot.models
    ]
    return {"stack": stack, "backend": backend, "now": now, "jobs": jobs, "models": models}


def render_status(view: Mapping[str, Any]) -> str:
    now = view["now"]
    lines = [f'Stack "{view["stack"]}" (backend {view["backend"]})']
    lines.append("\nJobs:" if view["jobs"] else "\nJobs: none")
    for job in view["jobs"]:
        age = duration(now - job["created"]) if job["created"] else "?"
        took = duration(job["duration_seconds"]) if job["duration_seconds"] is not None else "-"
        cpu = f"{job['mean_cpu']:.1f} CPU" if job["mean_cpu"] is not None else "- CPU"
        memory = (
            f"{job['peak_memory_bytes'] / 2**20:.0f} MiB" if job["peak_memory_bytes"] else "- MiB"
        )
        lines.append(
            f"  {job['name']:<40} {job['state']:<10} age {age:<9} ran {took:<9} "
            f"{cpu:<9} peak {memory}"
        )
        if job.get("runtime"):
            lines.append(f"      {job['runtime']}")
        if job["error"] and job["state"] == "FAILED":
            said = job["error"].splitlines()
            # The last line, and the one before a hint: the exception the hint is about.
            shown = said[-2:] if len(said) > 1 and said[-1].startswith("hint: ") else said[-1:]
            lines.extend(f"      {line.strip()}" for line in shown)
    lines.append("\nModels:" if view["models"] else "\nModels: none")
    for model in view["models"]:
        lines.append(f"  {model['name']}")
        for version in model["versions"]:
            mark = " (default)" if version["default"] else ""
            lines.append(f"    {version['name']} {version['state']}{mark}")
    return "\n".join(lines) + "\n"
