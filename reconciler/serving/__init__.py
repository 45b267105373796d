"""Serving deployed model versions: in-process prediction (and, later, the HTTP server)."""
