"""A SavedModel's serving signature: checking instances against it, and calling it.

Requests come in the two JSON shapes of TF Serving's REST API, which ML
Engine's online prediction also takes: row form (``"instances"``: one
object of features by name per instance, or bare values when the model has
one input) and column form (``"inputs"``: one list per feature). Both become
one NumPy array per input, checked against the signature's dtype and shape
before TensorFlow sees them, so a bad instance is a clear
:class:`InstanceError` and never a failed batch. TensorFlow is imported only
by :meth:`ServingSignature.load`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reconciler.diagnostics import MlapplyError

SIGNATURE = "serving_default"
ESTIMATOR_PREDICT = "predict"
"""What an Estimator's exporter always writes; ``serving_default`` only when the head's
classify or regress signature could be built (a single serialized tf.Example input)."""

Columns = dict[str, np.ndarray]

_KINDS = {
    "float16": "number",
    "float32": "number",
    "float64": "number",
    "bfloat16": "number",
    "int8": "integer",
    "int16": "integer",
    "int32": "integer",
    "int64": "integer",
    "uint8": "integer",
    "uint16": "integer",
    "uint32": "integer",
    "uint64": "integer",
    "bool": "boolean",
    "string": "string",
}


class InstanceError(ValueError):
    """A request the model cannot take; the message names the instance and feature."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"the key {key!r} appears twice in one object")
        found[key] = value
    return found


def strict_json(text: str | bytes) -> Any:
    """JSON as RFC 8259 has it: no NaN or Infinity, no key twice in an object (Python's
    json takes both, and the model would see the one it kept)."""
    return json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique_keys)


@dataclass(frozen=True)
class InputSpec:
    name: str
    dtype: str  # TensorFlow's dtype name
    shape: tuple[int | None, ...]  # the full shape; the first dimension is the batch

    @functools.cached_property
    def kind(self) -> str:
        return _KINDS.get(self.dtype, "unsupported")

    @functools.cached_property
    def numpy_dtype(self) -> Any:
        if self.kind == "string":
            return object
        return np.float32 if self.dtype == "bfloat16" else np.dtype(self.dtype)

    def describe(self) -> str:
        inner = [("?" if d is None else str(d)) for d in self.shape[1:]]
        return self.dtype + (f"[{','.join(inner)}]" if inner else "")


def choose_signature(names: Sequence[str]) -> str | None:
    """The signature to serve, as ML Engine chose it: ``serving_default``, else the
    export's only signature, else the ``predict`` signature an Estimator writes."""
    if SIGNATURE in names:
        return SIGNATURE
    if len(names) == 1:
        return names[0]
    return ESTIMATOR_PREDICT if ESTIMATOR_PREDICT in names else None


class ServingSignature:
    """One loaded serving signature with its input and output names."""

    def __init__(
        self,
        function: Callable[..., Mapping[str, Any]],
        inputs: Sequence[InputSpec],
        outputs: Sequence[str],
        name: str = SIGNATURE,
    ) -> None:
        self._function = function
        self.inputs = {spec.name: spec for spec in inputs}
        self.outputs = tuple(outputs)
        self.name = name

    @property
    def note(self) -> str | None:
        """Said when the model is served by a signature other than serving_default."""
        if self.name == SIGNATURE:
            return None
        return f"the SavedModel has no serving_default signature; serving its {self.name!r} one"

    @classmethod
    def load(cls, model_dir: Path) -> ServingSignature:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
        import tensorflow as tf

        try:
            loaded = tf.saved_model.load(str(model_dir))
        except (OSError, KeyError, ValueError) as exc:
            raise MlapplyError(f"cannot load the SavedModel in {model_dir}: {exc}") from exc
        name = choose_signature(sorted(loaded.signatures.keys()))
        if name is None:
            raise MlapplyError(
                f"the SavedModel in {model_dir} has no signature to serve: "
                f"no serving_default, and several others ({', '.join(loaded.signatures)})",
                "export it with a serving_default signature (tf.saved_model.save(..., "
                "signatures={'serving_default': ...}))",
            )
        signature = loaded.signatures[name]
        specs: Mapping[str, Any] = signature.structured_input_signature[1]
        inputs = [
            InputSpec(name, spec.dtype.name, tuple(spec.shape.as_list()))
            for name, spec in sorted(specs.items())
        ]
        unsupported = [spec for spec in inputs if spec.kind == "unsupported" or not spec.shape]
        if unsupported:
            raise MlapplyError(
                f"the SavedModel in {model_dir} takes {unsupported[0].name!r} as "
                f"{unsupported[0].describe()}, which JSON requests cannot carry"
            )
        outputs = sorted(signature.structured_outputs)

        def call(**arrays: np.ndarray) -> Mapping[str, Any]:
            # Keep a reference to `loaded`: the signature's variables live in it.
            _ = loaded
            result: Mapping[str, Any] = signature(
                **{name: tf.constant(value) for name, value in arrays.items()}
            )
            return result

        return cls(call, inputs, outputs, name)

    def describe_inputs(self) -> str:
        return ", ".join(f"{name} ({spec.describe()})" for name, spec in self.inputs.items())

    # Requests to columns.

    def columns_from_instances(self, instances: Any) -> tuple[Columns, int]:
        if not isinstance(instances, list) or not instances:
            raise InstanceError('"instances" must be a non-empty list')
        if len(self.inputs) == 1 and not all(isinstance(i, dict) for i in instances):
            (name,) = self.inputs
            return {name: self._array(self.inputs[name], instances, "instances")}, len(instances)
        for index, instance in enumerate(instances):
            if not isinstance(instance, dict):
                raise InstanceError(
                    f"instance {index}: expected an object of features by name, got "
                    f"{_json_type(instance)}; the model takes: {self.describe_inputs()}"
                )
            unknown = [key for key in instance if key not in self.inputs]
            if unknown:
                raise InstanceError(
                    f"instance {index}: unknown feature {unknown[0]!r}; "
                    f"the model takes: {self.describe_inputs()}"
                )
            if len(instance) != len(self.inputs):
                missing = next(name for name in self.inputs if name not in instance)
                raise InstanceError(
                    f"instance {index}: missing feature {missing!r}; "
                    f"the model takes: {self.describe_inputs()}"
                )
        columns = {
            name: self._array(spec, [instance[name] for instance in instances], "instance")
            for name, spec in self.inputs.items()
        }
        return columns, len(instances)

    def columns_from_inputs(self, inputs: Any) -> tuple[Columns, int]:
        if not isinstance(inputs, dict):
            if len(self.inputs) != 1:
                raise InstanceError(
                    f'"inputs" must be an object of features by name; '
                    f"the model takes: {self.describe_inputs()}"
                )
            inputs = {next(iter(self.inputs)): inputs}
        unknown = [key for key in inputs if key not in self.inputs]
        if unknown:
            raise InstanceError(
                f"unknown input {unknown[0]!r}; the model takes: {self.describe_inputs()}"
            )
        missing = [name for name in self.inputs if name not in inputs]
        if missing:
            raise InstanceError(
                f"missing input {missing[0]!r}; the model takes: {self.describe_inputs()}"
            )
        columns: Columns = {}
        for name, spec in self.inputs.items():
            values = inputs[name]
            if not isinstance(values, list) or not values:
                raise InstanceError(f"input {name!r}: expected a non-empty list, one per instance")
            columns[name] = self._array(spec, values, "value")
        counts = {len(column) for column in columns.values()}
        if len(counts) != 1:
            raise InstanceError("inputs have different numbers of values: " + _counts(columns))
        return columns, counts.pop()

    def _array(self, spec: InputSpec, values: list[Any], what: str) -> np.ndarray:
        kind = spec.kind
        for index, value in enumerate(values):
            problem = _leaf_problem(value, kind)
            if problem:
                raise InstanceError(
                    f"{what} {index}: feature {spec.name!r} must be {spec.describe()}, {problem}"
                )
        if kind == "string":
            values = [_strings(value) for value in values]
        want = spec.shape[1:]
        for index, value in enumerate(values):
            problem = _shape_problem(value, want)
            if problem:
                raise InstanceError(
                    f"{what} {index}: feature {spec.name!r} must be {spec.describe()}, {problem}"
                )
        try:
            with np.errstate(over="ignore"):  # an overflow to inf is refused just below
                array = np.asarray(values, dtype=spec.numpy_dtype)
        except OverflowError as exc:
            raise InstanceError(
                f"feature {spec.name!r}: a value is out of range for {spec.dtype}"
            ) from exc
        except (ValueError, TypeError) as exc:  # ragged lists where the shape has a None
            raise InstanceError(
                f"feature {spec.name!r}: values have different shapes; each must be "
                f"{spec.describe()}"
            ) from exc
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise InstanceError(f"feature {spec.name!r}: a value is out of range for {spec.dtype}")
        return array

    # Calling the model.

    def run(self, columns: Columns) -> dict[str, np.ndarray]:
        outputs = self._function(**columns)
        return {name: np.asarray(outputs[name]) for name in self.outputs}


def concatenate(parts: Sequence[Columns]) -> Columns:
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def rows(outputs: Mapping[str, np.ndarray], start: int, stop: int) -> list[Any]:
    """Row-form predictions, as TF Serving and ML Engine give them: one object per
    instance, or the bare value when the signature has a single output."""
    columns = {name: _plain(array[start:stop].tolist()) for name, array in outputs.items()}
    if len(columns) == 1:
        return list(next(iter(columns.values())))
    names = list(columns)
    return [{name: columns[name][i] for name in names} for i in range(stop - start)]


def column_outputs(outputs: Mapping[str, np.ndarray], start: int, stop: int) -> Any:
    columns = {name: _plain(array[start:stop].tolist()) for name, array in outputs.items()}
    return next(iter(columns.values())) if len(columns) == 1 else columns


def _leaf_problem(value: Any, kind: str) -> str | None:
    if isinstance(value, list):
        for item in value:
            problem = _leaf_problem(item, kind)
            if problem:
                return problem
        return None
    if _LEAF_OK[kind](value):
        return None
    return "got null" if value is None else f"got {_json_type(value)} {_short(value)}"


_LEAF_OK: dict[str, Callable[[Any], bool]] = {
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "string": lambda v: isinstance(v, str) or _is_b64(v),
}


def _shape_problem(value: Any, want: tuple[int | None, ...]) -> str | None:
    if not want:
        return None if not isinstance(value, list) else f"got a list of {len(value)}"
    if not isinstance(value, list):
        return f"got a single value where a list of {want[0] or 'values'} belongs"
    if want[0] is not None and len(value) != want[0]:
        return f"got a list of {len(value)}"
    for item in value:
        problem = _shape_problem(item, want[1:])
        if problem:
            return problem
    return None


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and list(value) == ["b64"] and isinstance(value["b64"], str)


def _strings(value: Any) -> Any:
    if isinstance(value, list):
        return [_strings(item) for item in value]
    if isinstance(value, dict):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InstanceError(f"not valid base64: {_short(value['b64'])}") from exc
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 40 else text[:37] + "..."


def _counts(columns: Columns) -> str:
    return ", ".join(f"{name}: {len(column)}" for name, column in columns.items())


def request_columns(signature: ServingSignature, body: bytes) -> tuple[bool, Columns, int]:
    """A request body as (whether it came in column form, its columns, how many
    instances); an :class:`InstanceError` says what is wrong with it."""
    try:
        payload = strict_json(body)
    except (ValueError, RecursionError) as exc:
        lines = str(exc).strip().splitlines()
        raise InstanceError(f"the body is not JSON: {lines[0] if lines else exc!r}") from exc
    if not isinstance(payload, dict) or ("instances" in payload) == ("inputs" in payload):
        raise InstanceError(
            'the body must be a JSON object with "instances" (rows) or "inputs" (columns)'
        )
    if "instances" in payload:
        columns, count = signature.columns_from_instances(payload["instances"])
        return False, columns, count
    columns, count = signature.columns_from_inputs(payload["inputs"])
    return True, columns, count


def answer(outputs: Mapping[str, np.ndarray], count: int, columns_form: bool) -> dict[str, Any]:
    """The response body, in the form the request came in."""
    if columns_form:
        return {"outputs": column_outputs(outputs, 0, count)}
    return {"predictions": rows(outputs, 0, count)}
