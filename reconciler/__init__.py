"""mlapply: declarative manifests for ML training jobs and model deployments.

The package is layered (see DESIGN.md and the import-linter contracts in
pyproject.toml): ``cli`` on top, then ``apply``, ``render``, ``plan``,
``identity``, ``stack`` and ``manifests`` at the bottom.
"""

__version__ = "0.1.0"
