"""Identity: canonical hashing, trainer and dataset fingerprints, the desired state."""

from reconciler.identity.desired import DesiredResource, DesiredState

__all__ = ["DesiredResource", "DesiredState"]
