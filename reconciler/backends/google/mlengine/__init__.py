"""The Cloud ML Engine backend (``backend: mlengine``, the ``ml`` v1 API).

Import the driver from ``reconciler.backends.google.mlengine.backend``; this
package itself loads nothing, so reading the profile stays light.
"""
