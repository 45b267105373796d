"""Variables: ``${var.NAME}`` inside string values, and nothing more.

Variables are declared in the Stack document (``spec.variables``) with an
optional type and default, and set by ``--var NAME=VALUE`` (wins), then
``--var-file FILE.yaml``, then the environment variable ``MLAPPLY_VAR_NAME``,
then the default. A string that is exactly one reference takes the variable's
typed value (so ``maxTrials: ${var.trials}`` is an integer); a reference
inside a longer string is replaced by the value's text. ``$${`` writes a
literal ``${``. There is no other expression language: nothing is evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.diagnostics import Diagnostic, Location, did_you_mean, error, warning
from reconciler.manifests.yaml_reader import Document, PathKey, read_yaml_file

ENV_PREFIX = "MLAPPLY_VAR_"
_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_VARIABLE = re.compile(r"^var\.([A-Za-z_][A-Za-z0-9_]*)$")
_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}
_NO_DEFAULT = object()


@dataclass(frozen=True)
class VariableInputs:
    """Values given from outside the manifests."""

    flags: Sequence[str] = ()
    """``--var NAME=VALUE`` arguments, as typed."""
    files: Sequence[str] = ()
    """``--var-file`` paths."""
    environ: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Declaration:
    name: str
    type: str
    default: Any
    location: Location

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT


def declarations(doc: Document, spec: Mapping[str, Any]) -> dict[str, Declaration]:
    """The variables a (schema-valid) ``spec.variables`` mapping declares."""
    found: dict[str, Declaration] = {}
    for name, body in spec.items():
        default = body.get("default", _NO_DEFAULT)
        declared = body.get("type")
        if declared is None:
            declared = _TYPES.get(type(default), "string")
        found[name] = Declaration(name, declared, default, doc.key_at(("spec", "variables", name)))
    return found


def check_defaults(decls: Mapping[str, Declaration], doc: Document) -> list[Diagnostic]:
    problems = []
    for decl in decls.values():
        if decl.has_default and not _fits(decl.default, decl.type):
            problems.append(
                error(
                    f'variable "{decl.name}": default {decl.default!r} is not {decl.type}',
                    doc.at(("spec", "variables", decl.name, "default")),
                    f"give a {decl.type} default, or change the variable's type",
                )
            )
    return problems


def _fits(value: Any, type_name: str) -> bool:
    if type_name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return _TYPES.get(type(value)) == type_name


def _convert(text: str, decl: Declaration) -> Any:
    """Convert a value given as text to the variable's type; raises ValueError."""
    if decl.type == "string":
        return text
    if decl.type == "integer":
        return int(text.strip())
    if decl.type == "number":
        number = float(text.strip())
        return int(number) if number.is_integer() and "." not in text else number
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError(text)


def resolve(
    decls: Mapping[str, Declaration], inputs: VariableInputs
) -> tuple[dict[str, Any], list[Diagnostic]]:
    """The value of every variable that has one, by precedence."""
    values: dict[str, Any] = {}
    diagnostics: list[Diagnostic] = []

    def take(name: str, raw: Any, where: Location, strict: bool) -> None:
        decl = decls.get(name)
        if decl is None:
            hint = did_you_mean(name, sorted(decls)) or "declare it in the Stack's spec.variables"
            report = error if strict else warning
            diagnostics.append(report(f'variable "{name}" is not declared', where, hint))
            return
        value = raw
        if isinstance(raw, str):
            try:
                value = _convert(raw, decl)
            except ValueError:
                value = _NO_DEFAULT
        if value is _NO_DEFAULT or not _fits(value, decl.type):
            diagnostics.append(error(f'variable "{name}": {raw!r} is not {decl.type}', where, None))
            return
        values[name] = value

    for name, decl in decls.items():
        if decl.has_default:
            values[name] = decl.default
    for key, text in sorted(inputs.environ.items()):
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX) :] in decls:
            take(key[len(ENV_PREFIX) :], text, Location(f"${key}"), strict=True)
    for path in inputs.files:
        diagnostics.extend(_read_var_file(path, take))
    for flag in inputs.flags:
        name, sep, text = flag.partition("=")
        if not sep or not name:
            diagnostics.append(
                error(f"--var {flag!r}: expected NAME=VALUE", Location("--var"), None)
            )
            continue
        take(name.strip(), text, Location(f"--var {name.strip()}"), strict=True)
    return values, diagnostics


def _read_var_file(path: str, take: Any) -> list[Diagnostic]:
    docs, problems = read_yaml_file(path, path)
    docs = [d for d in docs if d.data is not None]
    if problems:
        return problems
    if len(docs) != 1 or not isinstance(docs[0].data, dict):
        return [
            error(
                "a variable file holds one mapping of NAME: VALUE",
                docs[0].at(()) if docs else Location(path),
            )
        ]
    doc = docs[0]
    problems = []
    for name, value in doc.data.items():
        if isinstance(value, dict | list) or value is None:
            problems.append(error(f'variable "{name}": expected a scalar value', doc.at((name,))))
            continue
        take(name, value, doc.key_at((name,)), strict=False)
    return problems


def substitute(
    doc: Document,
    values: Mapping[str, Any],
    decls: Mapping[str, Declaration],
    skip: PathKey | None = None,
) -> tuple[Document, list[Diagnostic]]:
    """The document with every ``${var.NAME}`` replaced; problems at their positions."""
    if not doc.references:
        return doc, []
    substitution = _Substitution(doc, values, decls, skip)
    data = substitution.visit(doc.data, ())
    return replace(doc, data=data), substitution.diagnostics


class _Substitution:
    """One document's substitution. Methods, not nested functions: a nested function
    that calls itself is a reference cycle, which kept every document's positions
    alive until the cyclic collector ran (and forever once frozen: gcpause.py)."""

    def __init__(
        self,
        doc: Document,
        values: Mapping[str, Any],
        decls: Mapping[str, Declaration],
        skip: PathKey | None,
    ) -> None:
        self.doc, self.values, self.decls, self.skip = doc, values, decls, skip
        self.diagnostics: list[Diagnostic] = []

    def visit(self, value: Any, path: PathKey) -> Any:
        if path == self.skip:
            return value
        if isinstance(value, dict):
            return {k: self.visit(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.visit(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "${" in value:
            return self.replace_in(value, path)
        return value

    def lookup(self, expression: str, path: PathKey) -> Any:
        """The variable's value; on failure, a diagnostic and the reference as written."""
        match = _VARIABLE.match(expression.strip())
        where = self.doc.at(path)
        as_written = "${" + expression + "}"
        if match is None:
            self.diagnostics.append(
                error(
                    f"unsupported expression ${{{expression}}}",
                    where,
                    "only ${var.NAME} is supported; write $${ for a literal ${",
                )
            )
            return as_written
        name = match.group(1)
        if name not in self.decls:
            hint = (
                did_you_mean(name, sorted(self.decls)) or "declare it in the Stack's spec.variables"
            )
            self.diagnostics.append(error(f'variable "{name}" is not declared', where, hint))
            return as_written
        if name not in self.values:
            self.diagnostics.append(
                error(
                    f'variable "{name}" is not set',
                    where,
                    f"set it with --var {name}=VALUE, in a --var-file or as "
                    f"{ENV_PREFIX}{name}, or give it a default in the Stack",
                )
            )
            return as_written
        return self.values[name]

    def replace_in(self, text: str, path: PathKey) -> Any:
        whole = _REFERENCE.fullmatch(text)
        if whole is not None and whole.group(0) != "$${":
            return self.lookup(whole.group(1), path)

        def one(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            return _text(self.lookup(match.group(1), path))

        return _REFERENCE.sub(one, text)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
