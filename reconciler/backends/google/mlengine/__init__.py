"""The Cloud ML Engine backend (``backend: mlengine``, API ``ml`` v1): its profile."""
