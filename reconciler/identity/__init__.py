"""Identity: canonical hashing, trainer and dataset fingerprints, the desired state."""

from reconciler.identity.desired import DesiredResource, DesiredState, compute_desired
from reconciler.identity.hashcache import HashCache

__all__ = ["DesiredResource", "DesiredState", "HashCache", "compute_desired"]
