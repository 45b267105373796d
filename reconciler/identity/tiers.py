"""What a scale tier becomes on each backend: the machines a job really gets.

Part of a job's identity (the plan shows it), so changing the local replica
shape or moving a stack to the cloud trains again.
"""

from __future__ import annotations

from typing import Any

from reconciler.stack.resources import LocalSettings, MachineGroup, Machines

_DISTRIBUTED = {"STANDARD_1", "PREMIUM_1"}

# Cloud ML Engine's tiers as Vertex AI worker pools (DESIGN.md, Backends).
_CLOUD_TIERS: dict[str, dict[str, MachineGroup]] = {
    "BASIC": {"chief": MachineGroup("n1-standard-4")},
    "BASIC_GPU": {"chief": MachineGroup("n1-standard-8", 1, None)},
    "BASIC_TPU": {"chief": MachineGroup("cloud-tpu", 1, None)},
    "STANDARD_1": {
        "chief": MachineGroup("n1-highcpu-8"),
        "worker": MachineGroup("n1-highcpu-8", 4),
        "parameterServer": MachineGroup("n1-standard-4", 3),
    },
    "PREMIUM_1": {
        "chief": MachineGroup("n1-highcpu-16"),
        "worker": MachineGroup("n1-highcpu-16", 19),
        "parameterServer": MachineGroup("n1-highmem-8", 11),
    },
}
_CLOUD_ACCELERATORS = {"BASIC_GPU": ("NVIDIA_TESLA_T4", 1), "BASIC_TPU": ("TPU_V2", 8)}


def _group(group: MachineGroup, accelerator: tuple[str, int] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"type": group.type, "count": group.count}
    if group.accelerator is not None:
        found["accelerator"] = {"type": group.accelerator.type, "count": group.accelerator.count}
    elif accelerator is not None:
        found["accelerator"] = {"type": accelerator[0], "count": accelerator[1]}
    return found


def _custom(machines: Machines) -> dict[str, Any]:
    pools = {
        "chief": machines.master,
        "worker": machines.worker,
        "parameterServer": machines.parameter_server,
        "evaluator": machines.evaluator,
    }
    return {role: _group(group) for role, group in pools.items() if group is not None}


def resolve_machines(
    tier: str, machines: Machines | None, backend: str, local: LocalSettings
) -> dict[str, Any]:
    """The machines (cloud) or processes (local) of each role for a job."""
    if tier == "CUSTOM" and machines is not None:
        resolved = _custom(machines)
        if backend != "local":
            return resolved
        return {role: {"processes": pool["count"]} for role, pool in resolved.items()}
    if backend == "local":
        shape = {"chief": {"processes": 1}}
        if tier in _DISTRIBUTED:
            shape["worker"] = {"processes": local.workers}
            shape["parameterServer"] = {"processes": local.parameter_servers}
            shape["evaluator"] = {"processes": local.evaluators}
        return {role: pool for role, pool in shape.items() if pool["processes"] > 0}
    accelerator = _CLOUD_ACCELERATORS.get(tier)
    return {
        role: _group(group, accelerator if role == "chief" else None)
        for role, group in _CLOUD_TIERS[tier].items()
    }


def describe(resolved: dict[str, Any]) -> str:
    """One line for people: ``chief: 1 process, worker: 2 processes`` or machine types."""
    parts = []
    for role, pool in resolved.items():
        if "processes" in pool:
            count = pool["processes"]
            parts.append(f"{role}: {count} local process{'es' if count != 1 else ''}")
            continue
        accel = pool.get("accelerator")
        extra = f" + {accel['count']}x {accel['type']}" if accel else ""
        parts.append(f"{role}: {pool['count']}x {pool['type']}{extra}")
    return ", ".join(parts)
