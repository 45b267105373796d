"""Whether a Google product's training offers a pool's machines: its catalogue's
machine types and accelerators (each catalogue cites its page and date)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.backends.compiled import Pool


def machine_check(
    product: str, machines: frozenset[str], accelerators: frozenset[str], source: str
) -> Callable[[Pool], str | None]:
    """Why ``product`` training cannot give a pool its machines, or None."""

    def problem(pool: Pool) -> str | None:
        if pool.machine_type is None:
            return None
        if pool.machine_type not in machines:
            return f"{product} training has no machine type {pool.machine_type} ({source})"
        accelerator = pool.accelerator
        if accelerator is not None and accelerator.type not in accelerators:
            return (
                f"{product} training has no accelerator {accelerator.type} "
                f"(one of: {', '.join(sorted(accelerators))})"
            )
        return None

    return problem
