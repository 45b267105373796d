"""What running costs, as data: a backend's price list, or the stack's own node-hour price.

A price list (the Google backends' ``prices`` modules) holds hourly prices per
machine type and accelerator, for training and for serving, in the regions
where they hold, with where they come from and as of when. A backend without a
list (local, ray) is priced only when the Stack declares what one node-hour
costs (``spec.prices.nodeHour``). Either answers "how much per hour" for a
job's pools or a version's nodes, or says why it cannot (``Priced.missing``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from reconciler.backends.compiled import Pool

CURRENCY = "USD"
STALE_AFTER_DAYS = 90
"""A price list older than this is named in the plan (it may no longer hold)."""
HOURS_PER_MONTH = 730.0
"""Google's pricing pages count a month as 730 hours."""


class Priced(NamedTuple):
    """An hourly price, or why there is none."""

    hourly: float | None
    missing: str | None = None

    @classmethod
    def unknown(cls, why: str) -> Priced:
        return cls(None, why)


class Prices(Protocol):
    """What a plan asks of prices: a job's and a version's cost per hour."""

    @property
    def title(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def as_of(self) -> date | None: ...

    @property
    def scales_to_zero(self) -> bool: ...

    def training(self, pools: Sequence[Pool], region: str) -> Priced: ...

    def serving(self, machine: str, nodes: int, region: str) -> Priced: ...


class MachineFamily(NamedTuple):
    """A machine family's hourly price per vCPU and per GB of memory, and the memory
    per vCPU of each of its kinds (``n1-standard-4``: kind standard, 4 vCPUs)."""

    vcpu: float
    memory_gb: float
    memory_per_vcpu: Mapping[str, float]

    def hourly(self, kind: str, vcpus: int) -> float | None:
        per_vcpu = self.memory_per_vcpu.get(kind)
        if per_vcpu is None:
            return None
        return vcpus * self.vcpu + vcpus * per_vcpu * self.memory_gb


class PriceList(NamedTuple):
    """A cloud's list prices (data, in the backend's folder)."""

    title: str
    source: str
    as_of: date
    """When the figures were last known to hold (the plan names a list older than
    ``STALE_AFTER_DAYS``)."""
    regions: frozenset[str]
    """Where these prices hold; another region is not priced (said, not guessed)."""
    families: Mapping[str, MachineFamily]
    """Prices by machine family (``n1``), for training and serving alike."""
    accelerators: Mapping[str, float]
    """Training: the hourly price of one accelerator, by type."""
    scales_to_zero: bool = False
    """Whether a version with minNodes 0 costs nothing while idle."""

    def machine(self, machine_type: str) -> float | None:
        family, _, rest = machine_type.partition("-")
        kind, _, count = rest.rpartition("-")
        found = self.families.get(family)
        if found is None or not count.isdigit():
            return None
        return found.hourly(kind, int(count))

    def _region(self, region: str) -> str | None:
        if region in self.regions:
            return None
        listed = ", ".join(sorted(self.regions))
        return f"{self.title} has no prices for region {region} (it lists {listed})"

    def training(self, pools: Sequence[Pool], region: str) -> Priced:
        missing = self._region(region)
        if missing:
            return Priced.unknown(missing)
        total = 0.0
        for pool in pools:
            if pool.machine_type is None:
                return Priced.unknown(f"{pool.describe()} has no machine type to price")
            machine = self.machine(pool.machine_type)
            if machine is None:
                return Priced.unknown(f"{self.title} has no price for {pool.machine_type}")
            each = machine
            if pool.accelerator is not None:
                accelerator = self.accelerators.get(pool.accelerator.type)
                if accelerator is None:
                    return Priced.unknown(f"{self.title} has no price for {pool.accelerator.type}")
                each += accelerator * pool.accelerator.count
            total += each * pool.replicas
        return Priced(total)

    def serving(self, machine: str, nodes: int, region: str) -> Priced:
        missing = self._region(region)
        if missing:
            return Priced.unknown(missing)
        hourly = self.machine(machine)
        if hourly is None:
            return Priced.unknown(f"{self.title} has no serving price for {machine}")
        return Priced(hourly * nodes)  # a prediction node costs what the machine trains at


class NodeHourPrices(NamedTuple):
    """The Stack's own price of a node-hour (``spec.prices.nodeHour``), for a backend
    without a price list: a job costs it per node it holds, a version per node."""

    node_hour: float
    nodes: Callable[[Sequence[Pool]], int]
    """How many nodes a job's pools hold on this backend."""
    title: str = "the Stack's spec.prices.nodeHour"
    source: str = "spec.prices.nodeHour"
    as_of: date | None = None
    scales_to_zero: bool = False

    def training(self, pools: Sequence[Pool], region: str) -> Priced:
        return Priced(self.node_hour * self.nodes(pools))

    def serving(self, machine: str, nodes: int, region: str) -> Priced:
        return Priced(self.node_hour * nodes)


def stack_prices(
    listed: PriceList | None, node_hour: float | None, nodes: Callable[[Sequence[Pool]], int]
) -> Prices | None:
    """A backend's list, else the Stack's node-hour price, else nothing."""
    if listed is not None:
        return listed
    if node_hour is None:
        return None
    return NodeHourPrices(node_hour, nodes, f"the Stack's spec.prices.nodeHour (${node_hour:g})")


def frozen(values: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(values))
