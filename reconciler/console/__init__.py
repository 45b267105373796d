"""The web console: a read-only page that watches a stack (``server``)."""
