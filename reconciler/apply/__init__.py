"""Doing: making plans from the live world, and (later) carrying them out."""
