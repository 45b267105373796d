"""The Vertex AI backend (``backend: vertex``): profile, request bodies, driver.

Import the driver from ``reconciler.backends.google.vertex.backend``; this
package itself loads nothing, so reading the profile stays light.
"""
