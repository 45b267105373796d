"""The two tables: kinds and backends. The vocabulary each declares agrees with
the schemas, every row is complete, capabilities are checked at validate
time, and generic code names neither a kind nor a backend."""

from __future__ import annotations

import ast
import inspect
import json
import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.backends import registry, settings
from reconciler.backends.compiled import Pool, Role
from reconciler.backends.facets import Facet
from reconciler.backends.local.settings import LocalSettings
from reconciler.cli import cli
from reconciler.kinds.base import LiveHandler
from reconciler.kinds.table import BY_KIND, KINDS, LIVE, STACK, VOCABULARY
from reconciler.manifests import schema
from reconciler.plan.model import ReasonCode
from reconciler.stack.resources import MachineGroup, Machines
from tests.conftest import REPO

PLAN_SCHEMA = json.loads((REPO / "schemas" / "plan.schema.json").read_text())
CHANGE = PLAN_SCHEMA["$defs"]["change"]["properties"]


def test_the_schemas_declare_exactly_the_kinds_of_the_table() -> None:
    assert list(schema.kind_schemas()) == list(VOCABULARY)
    assert STACK.kind == VOCABULARY[0]
    assert sorted(CHANGE["kind"]["enum"]) == sorted(h.kind for h in LIVE)


def test_every_kind_has_its_own_prefix_and_live_kinds_plan_and_apply() -> None:
    prefixes = [STACK.prefix, *(k.prefix for k in KINDS)]
    assert len(set(prefixes)) == len(prefixes)
    for handler in KINDS:
        assert BY_KIND[handler.kind] is handler
        if isinstance(handler, LiveHandler):
            assert handler.updatable, f"{handler.kind} says which fields change in place"


def test_the_plan_schema_lists_every_reason_code() -> None:
    codes = CHANGE["reasons"]["items"]["properties"]["code"]["enum"]
    assert codes == [code.value for code in ReasonCode]


def test_the_stack_schema_offers_exactly_the_registered_backends() -> None:
    stack = json.loads((REPO / "schemas" / "stack.schema.json").read_text())
    offered = stack["properties"]["spec"]["properties"]["backend"]["enum"]
    assert offered == list(registry.BACKENDS)
    assert PLAN_SCHEMA["properties"]["backend"]["enum"] == list(registry.BACKENDS)
    for name in registry.BACKENDS:
        assert registry.profile(name).name == name


def test_tiers_compile_in_one_role_vocabulary() -> None:
    local = LocalSettings(workers=3, parameter_servers=1)
    machines = Machines(
        master=MachineGroup("n1-standard-8"),
        parameter_server=MachineGroup("n1-highmem-8", 2),
    )
    assert registry.profile("local").compile_pools("STANDARD_1", None, local) == (
        Pool(Role.CHIEF, 1),
        Pool(Role.WORKER, 3),
        Pool(Role.PARAMETER_SERVER, 1),
    )
    vertex = registry.profile("vertex").compile_pools("CUSTOM", machines, local)
    assert [(p.role, p.replicas, p.machine_type) for p in vertex] == [
        (Role.CHIEF, 1, "n1-standard-8"),
        (Role.PARAMETER_SERVER, 2, "n1-highmem-8"),
    ]
    assert [r.tf_config for r in Role] == ["chief", "worker", "ps", "evaluator"]


def test_a_capability_the_backend_lacks_is_a_validate_error_with_file_and_line(
    tmp_path: Path,
) -> None:
    (tmp_path / "s.yaml").write_text(
        "apiVersion: mlapply/v1\nkind: Stack\nmetadata: {name: s}\nspec:\n  backend: vertex\n"
        "  gcp: {project: my-project, region: us-central1, stagingBucket: gs://bucket}\n---\n"
        "apiVersion: mlapply/v1\nkind: Trainer\nmetadata: {name: t}\n"
        "spec: {container: {image: us-central1-docker.pkg.dev/p/t/t:1}}\n---\n"
        "apiVersion: mlapply/v1\nkind: TrainingJob\nmetadata: {name: j}\nspec: {trainer: t}\n---\n"
        "apiVersion: mlapply/v1\nkind: Model\nmetadata: {name: m}\n---\n"
        "apiVersion: mlapply/v1\nkind: ModelVersion\nmetadata: {name: v}\nspec:\n"
        "  model: m\n  source: {job: j}\n"
        "  servingContainer: {image: us-central1-docker.pkg.dev/p/s/s:1}\n"
        "  gate: {metric: rmse, goal: MINIMIZE, threshold: 3}\n"
    )
    result = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    missing = registry.profile("vertex").job_metrics
    assert missing is not None
    assert result.output.splitlines()[:2] == [
        f"{tmp_path / 's.yaml'}:29:3: error: backend vertex cannot gate on rmse: {missing.why}",
        f"  hint: {missing.instead}",
    ]


def test_a_command_the_backend_cannot_serve_names_the_capability(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        "apiVersion: mlapply/v1\nkind: Stack\nmetadata: {name: s}\nspec:\n  backend: vertex\n"
        "  gcp: {project: my-project, region: us-central1, stagingBucket: gs://bucket}\n"
    )
    result = CliRunner().invoke(cli, ["predict", "m", str(tmp_path), "--instances", "[]"])
    missing = registry.profile("vertex").explains[Facet.LOCAL_MODELS]
    assert result.exit_code == 1
    assert f"is on backend vertex: {missing.why}" in result.output
    assert f"hint: {missing.instead}" in result.output


GENERIC = [
    "reconciler/stack/build.py",
    "reconciler/plan/diff.py",
    "reconciler/plan/model.py",
    "reconciler/plan/fields.py",
    "reconciler/apply/executor.py",
    "reconciler/apply/flow.py",
    "reconciler/apply/planning.py",
    "reconciler/kinds/__init__.py",
    "reconciler/kinds/base.py",
    "reconciler/identity/desired.py",
    "reconciler/render/jsonplan.py",
    "reconciler/render/text.py",
    "reconciler/render/markdown.py",
    *(str(p.relative_to(REPO)) for p in sorted((REPO / "reconciler" / "cli").glob("*.py"))),
]
KIND_WORDS = re.compile(
    r'"(Dataset|Trainer|TrainingJob|Model|ModelVersion)"'
    r"|\bstack\.(jobs|trainers|datasets|models|versions)\b"
)
BACKEND_WORDS = re.compile(r'"(local|vertex|mlengine)"')


@pytest.mark.parametrize("path", GENERIC)
def test_generic_modules_name_no_kind_and_no_backend(path: str) -> None:
    text = (REPO / path).read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert not KIND_WORDS.search(code), KIND_WORDS.search(code)
    assert not BACKEND_WORDS.search(code), BACKEND_WORDS.search(code)


@pytest.mark.parametrize("name", list(registry.BACKENDS))
def test_a_backend_explains_exactly_the_facets_its_driver_lacks(name: str) -> None:
    """What a backend can do is the facets its driver class provides; its profile says
    why for each it lacks (what a refusal prints), and nothing more."""
    provided = registry.facets(name)
    assert Facet.JOBS in provided, f"{name}: every backend runs jobs"
    assert set(registry.profile(name).explains) == set(Facet) - provided


def _only_raises(function: ast.FunctionDef) -> bool:
    body = [s for s in function.body if not isinstance(s, ast.Expr | ast.Pass)]
    return len(body) == 1 and isinstance(body[0], ast.Raise)


@pytest.mark.parametrize("name", list(registry.BACKENDS))
def test_no_driver_method_exists_only_to_raise(name: str) -> None:
    """A backend lacks a capability by not providing its facet, never by a stub."""
    for klass in registry.driver_class(name).__mro__:
        module = sys.modules[klass.__module__]
        if not module.__name__.startswith("reconciler.backends.") or klass.__name__ not in dir(
            module
        ):
            continue
        if module.__name__ == "reconciler.backends.facets":
            continue
        tree = ast.parse(inspect.getsource(klass))
        stubs = [
            f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and _only_raises(f)
        ]
        assert stubs == [], f"{klass.__name__}: {stubs}"


def test_the_stack_schema_composes_each_backends_own_settings() -> None:
    """Each backend declares its block of Stack.spec in its folder; the committed
    schema is those blocks composed (python -m reconciler.backends.settings)."""
    committed = json.loads((REPO / "schemas" / "stack.schema.json").read_text())
    blocks = {name: registry.settings(name) for name in registry.BACKENDS}
    assert committed == settings.compose(committed, blocks), (
        "schemas/stack.schema.json is stale: run .venv/bin/python -m reconciler.backends.settings"
    )
    spec = committed["properties"]["spec"]["properties"]
    for block in blocks.values():
        assert spec[block.key] == block.schema


def test_each_extra_a_missing_module_names_is_one_pyproject_declares() -> None:
    import tomllib

    from reconciler.extras import extras_named

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert extras_named() <= set(declared["optional-dependencies"])
