"""Backends: where jobs run and models are served. ``base`` is the shared protocol."""
