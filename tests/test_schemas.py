"""The JSON Schemas: valid, documented, editor-friendly, and in step with the code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from reconciler.backends.local.settings import LocalSettings
from reconciler.backends.settings import own
from reconciler.kinds import load_stack
from reconciler.manifests import schema
from reconciler.manifests.yaml_reader import read_yaml_file
from tests.conftest import CASES, REPO, WriteFiles

SCHEMAS = sorted((REPO / "schemas").glob("*.schema.json"))


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}/{i}")


def _resolve(ref: str, current: Path) -> Any:
    file_part, _, pointer = ref.partition("#")
    target = _load(REPO / "schemas" / file_part) if file_part else _load(current)
    for part in filter(None, pointer.split("/")):
        target = target[part]
    return target


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_schema_is_valid_draft_2020_12(path: Path) -> None:
    Draft202012Validator.check_schema(_load(path))


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_every_field_has_a_description(path: Path) -> None:
    undocumented = []
    for where, node in _walk(_load(path)):
        if not where.endswith("/properties") or not isinstance(node, dict):
            continue
        if any(f"/{word}/" in where for word in ("if", "then", "else", "not", "anyOf", "oneOf")):
            continue  # conditions restate fields declared (and described) elsewhere
        for name, field in node.items():
            target = _resolve(field["$ref"], path) if "$ref" in field else field
            if "description" not in field and "description" not in target:
                undocumented.append(f"{where}/{name}")
    assert undocumented == []


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_references_resolve_relative_to_the_file_for_editors(path: Path) -> None:
    document = _load(path)
    assert "$id" not in document, "an $id would make editors resolve $refs on the network"
    for _, node in _walk(document):
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            assert not ref.startswith(("http:", "https:")), ref
            _resolve(ref, path)  # raises when it points nowhere


def _all_case_documents() -> Iterator[tuple[str, Any]]:
    for path in sorted(CASES.glob("*/*.yaml")):
        docs, _ = read_yaml_file(str(path), path.name)
        for doc in docs:
            if isinstance(doc.data, dict) and doc.data.get("kind") in schema.kind_schemas():
                yield f"{path.parent.name}/{path.name}#{doc.index}", doc.data


@pytest.mark.parametrize(("name", "data"), list(_all_case_documents()), ids=lambda v: str(v)[:60])
def test_manifest_schema_dispatches_like_the_kind_schemas(name: str, data: Any) -> None:
    dispatching = schema.validator_for("manifest.schema.json")
    direct = schema.validator_for(schema.kind_schemas()[data["kind"]])
    assert dispatching.is_valid(data) == direct.is_valid(data), name


def test_kinds_in_the_dispatching_schema_match_the_code() -> None:
    manifest = _load(REPO / "schemas" / "manifest.schema.json")
    assert manifest["properties"]["kind"]["enum"] == list(schema.kind_schemas())
    for kind, file_name in schema.kind_schemas().items():
        assert _load(REPO / "schemas" / file_name)["properties"]["kind"]["const"] == kind


def _default(file_name: str, *pointer: str) -> Any:
    node: Any = _load(REPO / "schemas" / file_name)
    for part in pointer:
        node = node[part]
    if "default" not in node and "$ref" in node:
        node = _resolve(node["$ref"], REPO / "schemas" / file_name)
    return node["default"]


def test_schema_defaults_are_the_defaults_the_code_fills_in(write_files: WriteFiles) -> None:
    root = write_files(
        {
            "minimal/stack.yaml": """
            apiVersion: mlapply/v1
            kind: Stack
            metadata: {name: s}
            """,
            "stack.yaml": """
            apiVersion: mlapply/v1
            kind: Stack
            metadata: {name: s}
            spec:  # a backend that tunes
              backend: vertex
              gcp: {project: my-project, region: us-central1, stagingBucket: gs://my-bucket}
            ---
            apiVersion: mlapply/v1
            kind: Dataset
            metadata: {name: d}
            spec: {train: gs://b/train.csv}
            ---
            apiVersion: mlapply/v1
            kind: Trainer
            metadata: {name: t}
            spec: {container: {image: us-docker.pkg.dev/my-project/trainers/t:1}}
            ---
            apiVersion: mlapply/v1
            kind: TrainingJob
            metadata: {name: j}
            spec:
              trainer: t
              hyperparameterTuning:
                metric: m
                params: [{name: x, type: DOUBLE, min: 0, max: 1}]
            ---
            apiVersion: mlapply/v1
            kind: Model
            metadata: {name: m}
            ---
            apiVersion: mlapply/v1
            kind: ModelVersion
            metadata: {name: v}
            spec: {model: m, source: {job: j}}
            """,
        }
    )
    result = load_stack([str(root / "stack.yaml")])
    assert result.ok and result.stack is not None, [d.render() for d in result.diagnostics]
    stack = result.stack
    spec = ("properties", "spec", "properties")
    local = (*spec, "local", "properties")
    minimal = load_stack([str(root / "minimal")]).stack
    assert minimal is not None
    assert minimal.settings.backend == _default("stack.schema.json", *spec, "backend")
    assert stack.settings.home == root / _default("stack.schema.json", *local, "home")
    replicas = (*local, "replicas", "properties")
    shape = own(minimal.settings, LocalSettings)  # the stack above is on vertex
    assert shape.workers == _default("stack.schema.json", *replicas, "workers")
    assert shape.parameter_servers == _default("stack.schema.json", *replicas, "parameterServers")
    assert shape.evaluators == _default("stack.schema.json", *replicas, "evaluators")
    assert stack.datasets["d"].fingerprint == _default("dataset.schema.json", *spec, "fingerprint")
    trainer = stack.trainers["t"]
    assert trainer.module == _default("trainer.schema.json", *spec, "module")
    flags = (*spec, "flags", "properties")
    assert trainer.flags.train == _default("trainer.schema.json", *flags, "train")
    assert trainer.flags.eval == _default("trainer.schema.json", *flags, "eval")
    assert trainer.flags.output == _default("trainer.schema.json", *flags, "output")
    assert trainer.flags.job_dir == _default("trainer.schema.json", *flags, "jobDir")
    job = stack.jobs["j"]
    assert job.scale_tier == _default("trainingjob.schema.json", *spec, "scaleTier")
    retry = (*spec, "retry", "properties")
    assert job.max_attempts == _default("trainingjob.schema.json", *retry, "maxAttempts")
    tuning_spec = (*spec, "hyperparameterTuning", "properties")
    assert job.tuning is not None
    for attribute, field in [
        ("goal", "goal"),
        ("max_trials", "maxTrials"),
        ("max_parallel_trials", "maxParallelTrials"),
        ("max_failed_trials", "maxFailedTrials"),
        ("algorithm", "algorithm"),
        ("early_stopping", "enableEarlyStopping"),
    ]:
        assert getattr(job.tuning, attribute) == _default(
            "trainingjob.schema.json", *tuning_spec, field
        ), field
    model = stack.models["m"]
    assert model.online_prediction_logging == _default(
        "model.schema.json", *spec, "onlinePredictionLogging"
    )
    version = stack.versions["v"]
    for attribute, field in [
        ("default", "default"),
        ("framework", "framework"),
        ("machine_type", "machineType"),
    ]:
        assert getattr(version, attribute) == _default("modelversion.schema.json", *spec, field)
    assert stack.settings.meta.prevent_destroy is _default(
        "common.schema.json", "$defs", "lifecycle", "properties", "preventDestroy"
    )


@pytest.mark.parametrize(("name", "data"), list(_all_case_documents()), ids=lambda v: str(v)[:60])
def test_fast_check_agrees_with_jsonschema(name: str, data: Any) -> None:
    file_name = schema.kind_schemas()[data["kind"]]
    fast = schema.fast_check(file_name)
    assert fast is not None, "every kind schema must compile to the fast check"
    assert fast(data) == schema.validator_for(file_name).is_valid(data), name


def test_fast_check_refuses_keywords_it_does_not_know() -> None:
    from reconciler.manifests.fastcheck import Compiler, UnsupportedSchema

    compiler = Compiler(lambda _: {"type": "object", "dependentRequired": {"a": ["b"]}})
    with pytest.raises(UnsupportedSchema, match="dependentRequired"):
        compiler.file("x.json")


def test_the_manifest_reference_is_generated_from_the_schemas() -> None:
    from reconciler.manifests.reference import render_reference

    committed = (REPO / "docs" / "manifest-reference.md").read_text(encoding="utf-8")
    assert committed == render_reference(), (
        "docs/manifest-reference.md is stale: run "
        "`.venv/bin/python -m reconciler.manifests.reference > docs/manifest-reference.md`"
    )
    for file_name in schema.kind_schemas().values():
        for name in _load(REPO / "schemas" / file_name)["properties"]["spec"].get("properties", {}):
            assert f".{name}`" in committed, name
