"""Google's list prices for custom training and online prediction, as data.

Source: https://cloud.google.com/vertex-ai/pricing ("Custom-trained models":
training per machine type and accelerator, prediction per node-hour; a month
is 730 hours), and https://cloud.google.com/compute/vm-instance-pricing for the
per-vCPU and per-GB rates of the machine families, which Vertex AI's
per-machine figures are (Compute Engine's on-demand rate plus 15 %: the page's
n1-standard-4 training at $0.218499/h is 4 x $0.031611 + 15 GB x $0.004237,
times 1.15). The figures are us-central1's, which us-east1 and us-west1
share; other regions are not priced here (the plan says so rather than guess).

``AS_OF`` is when these figures were last known to hold: the pricing page could
not be read in full offline when this list was checked (2026-12-07), so the
figures are those of its 2025 edition, and every plan names the list as older
than 90 days until someone re-reads the page and moves the date. Prices in
another currency, committed-use and Spot discounts are not modelled.

ML Engine: the same page says Vertex AI costs "remain the same as they are for
the legacy AI Platform ... products", except that legacy prediction had the
mls1 machine types (not priced here) and scaled to zero (minNodes 0 costs
nothing idle): ``MLENGINE`` is this list with that difference.
"""

from __future__ import annotations

from datetime import date

from reconciler.backends.prices import MachineFamily, PriceList, frozen

AS_OF = date(2025, 6, 1)
SOURCE = "https://cloud.google.com/vertex-ai/pricing"
REGIONS = frozenset({"us-central1", "us-east1", "us-west1"})

_MARKUP = 1.15
"""Vertex AI's custom training and prediction over Compute Engine's on-demand rate."""


def _family(vcpu: float, memory_gb: float, **memory_per_vcpu: float) -> MachineFamily:
    return MachineFamily(vcpu * _MARKUP, memory_gb * _MARKUP, frozen(memory_per_vcpu))


# Compute Engine us-central1 on-demand: per vCPU-hour and per GB-hour, and the
# memory of each kind per vCPU (https://cloud.google.com/compute/docs/machine-resource).
FAMILIES = {
    "n1": _family(0.031611, 0.004237, standard=3.75, highmem=6.5, highcpu=0.9),
    "n2": _family(0.031611, 0.004237, standard=4.0, highmem=8.0, highcpu=1.0),
    "e2": _family(0.021811, 0.002923, standard=4.0, highmem=8.0, highcpu=1.0),
}

# Training, one accelerator, per hour (the page's figures, us-central1).
ACCELERATORS = frozen(
    {
        "NVIDIA_TESLA_T4": 0.4025,
        "NVIDIA_TESLA_P4": 0.69,
        "NVIDIA_TESLA_P100": 1.679,
        "NVIDIA_TESLA_V100": 2.852,
        "NVIDIA_TESLA_K80": 0.5175,
        "NVIDIA_TESLA_A100": 3.3741,
    }
)

VERTEX = PriceList(
    title="Vertex AI list prices",
    source=SOURCE,
    as_of=AS_OF,
    regions=REGIONS,
    families=FAMILIES,
    accelerators=ACCELERATORS,
)

MLENGINE = VERTEX._replace(
    title="AI Platform (ML Engine) list prices, the last before its shutdown",
    scales_to_zero=True,
)
