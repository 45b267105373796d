"""Where the files shipped with mlapply are: JSON Schemas and trainer templates.

In a built wheel they live inside the package (``reconciler/_assets``, see
pyproject.toml); in a source checkout or editable install, at the top of the
repository.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _asset_dir(name: str) -> Path:
    installed = _PACKAGE / "_assets" / name
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / name


def schemas_dir() -> Path:
    return _asset_dir("schemas")


def templates_dir() -> Path:
    return _asset_dir("trainer_templates")
