"""Property: whatever YAML-ish input arrives, only diagnostics come out — never a traceback."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.diagnostics import Diagnostic
from reconciler.kinds import load_stack
from reconciler.manifests import VariableInputs, schema
from reconciler.manifests.yaml_reader import read_yaml
from tests.conftest import REPO


def _vocabulary() -> list[str]:
    words: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            words.update(node.get("properties", {}))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in (REPO / "schemas").glob("*.schema.json"):
        walk(json.loads(path.read_text(encoding="utf-8")))
    return sorted(words)


WORDS = _vocabulary()
KINDS = ["Stack", "Dataset", "Trainer", "TrainingJob", "Model", "ModelVersion", "Nope"]
NAMES = ["a", "b", "t", "taxi", "m", "j", "Bad_Name", ""]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(NAMES + KINDS + ["CUSTOM", "DOUBLE", "gs://b/x", "../pkg", "${var.x}", "2h"]),
    st.text(max_size=12),
)
keys = st.one_of(st.sampled_from(WORDS), st.text(min_size=1, max_size=8))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=25,
)
documents = st.one_of(
    values,
    st.fixed_dictionaries(
        {
            "apiVersion": st.sampled_from(["mlapply/v1", "v1"]),
            "kind": st.sampled_from(KINDS),
            "metadata": st.fixed_dictionaries(
                {"name": st.sampled_from(NAMES)},
                optional={"labels": st.dictionaries(keys, scalars, max_size=3)},
            ),
        },
        optional={"spec": st.dictionaries(keys, values, max_size=6), "lifecycle": values},
    ),
)


def _check(result_diagnostics: list[Diagnostic]) -> None:
    for diagnostic in result_diagnostics:
        assert isinstance(diagnostic, Diagnostic)
        assert diagnostic.message
        diagnostic.render()
        json.dumps(diagnostic.to_json())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(documents, min_size=1, max_size=4), min_size=1, max_size=3))
def test_arbitrary_documents_give_only_diagnostics(files: list[list[Any]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "pkg").mkdir()
        for i, docs in enumerate(files):
            text = yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True)
            (root / f"f{i}.yaml").write_text(text, encoding="utf-8")
        result = load_stack([str(root)], VariableInputs(flags=["x=1"]))
        _check(result.diagnostics)
        assert (result.stack is None) == any(d.is_error for d in result.diagnostics)


@settings(max_examples=300, deadline=None)
@given(documents)
def test_fast_check_agrees_with_jsonschema_on_arbitrary_documents(document: Any) -> None:
    for file_name in schema.kind_schemas().values():
        fast = schema.fast_check(file_name)
        assert fast is not None
        assert fast(document) == schema.validator_for(file_name).is_valid(document), file_name


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#%@`,? \n\t1.~<")), max_size=80))
def test_arbitrary_text_gives_only_diagnostics(text: str) -> None:
    docs, diagnostics = read_yaml(text, "fuzz.yaml")
    _check(diagnostics)
    for doc in docs:
        json.dumps(doc.data, default=str)


def _good_documents() -> list[Any]:
    from reconciler.manifests.yaml_reader import read_yaml_file

    found: list[Any] = []
    for path in sorted((REPO / "tests" / "cases" / "good").glob("*.yaml")):
        docs, _ = read_yaml_file(str(path), path.name)
        found.extend(d.data for d in docs)
    return found


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.extend(_paths(item, (*prefix, i)))
    return found


GOOD = _good_documents()


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(GOOD), st.data())
def test_fast_check_agrees_on_mutations_of_valid_documents(
    document: Any, data: st.DataObject
) -> None:
    copy = json.loads(json.dumps(document))
    path = data.draw(st.sampled_from(_paths(copy)[1:]))
    parent = copy
    for key in path[:-1]:
        parent = parent[key]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(values)
    kind = copy.get("kind")
    if not isinstance(kind, str) or kind not in schema.kind_schemas():
        return
    file_name = schema.kind_schemas()[kind]
    fast = schema.fast_check(file_name)
    assert fast is not None
    assert fast(copy) == schema.validator_for(file_name).is_valid(copy)
