"""Google discovery documents as request validators.

The documents shipped inside google-api-python-client describe every method
(HTTP verb, path, query parameters, request schema). Schemas become JSON
Schema (draft 2020-12): unknown fields are refused (the real APIs answer 400
"Unknown name"), int64 may be a string of digits or an integer, enums and
durations are checked, and a property whose description starts "Required."
is required. Paths become regular expressions that find the method a request
calls.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import unquote

import jsonschema
from googleapiclient.discovery_cache import get_static_doc

STANDARD_QUERY = {
    "alt",
    "fields",
    "key",
    "prettyPrint",
    "quotaUser",
    "uploadType",
    "upload_protocol",
    "$.xgafv",
    "access_token",
    "callback",
    "oauth_token",
    "userIp",
    "userProject",
}


def _convert(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return {"$ref": f"#/$defs/{schema['$ref']}"}
    kind = schema.get("type")
    fmt = schema.get("format")
    out: dict[str, Any] = {}
    if kind == "object":
        out["type"] = "object"
        if "properties" in schema:
            out["properties"] = {k: _convert(v) for k, v in schema["properties"].items()}
            out["additionalProperties"] = False
            required = [
                k
                for k, v in schema["properties"].items()
                if str(v.get("description", "")).startswith("Required.") and not v.get("readOnly")
            ]
            if required:
                out["required"] = required
        elif "additionalProperties" in schema:
            out["additionalProperties"] = _convert(schema["additionalProperties"])
    elif kind == "array":
        out["type"] = "array"
        if "items" in schema:
            out["items"] = _convert(schema["items"])
    elif kind == "string":
        if fmt in ("int64", "uint64"):
            return {"anyOf": [{"type": "string", "pattern": r"^-?\d+$"}, {"type": "integer"}]}
        out["type"] = "string"
        if fmt == "google-duration":
            out["pattern"] = r"^-?\d+(\.\d{1,9})?s$"
        if "enum" in schema:
            out["enum"] = schema["enum"]
    elif kind == "integer":
        out["type"] = "integer"
        if fmt == "int32":
            out["minimum"], out["maximum"] = -(2**31), 2**31 - 1
        if fmt == "uint32":
            out["minimum"], out["maximum"] = 0, 2**32 - 1
    elif kind == "number":
        out["type"] = "number"
    elif kind == "boolean":
        out["type"] = "boolean"
    return out


@dataclass(frozen=True)
class Method:
    id: str
    http_method: str
    pattern: re.Pattern[str]
    params: tuple[str, ...]  # path parameter names, in order
    query: frozenset[str]
    request: str | None
    media_upload: bool


@dataclass(frozen=True)
class Api:
    name: str
    methods: tuple[Method, ...]
    definitions: dict[str, Any]

    def find(self, http_method: str, path: str) -> tuple[Method, dict[str, str]] | None:
        for method in self.methods:
            if method.http_method != http_method:
                continue
            match = method.pattern.fullmatch(path)
            if match:
                return method, {
                    name: unquote(value)
                    for name, value in zip(method.params, match.groups(), strict=True)
                }
        return None

    def body_errors(self, method: Method, body: Any) -> list[str]:
        if method.request is None:
            return []
        validator = _validator(self.name, method.request)
        return [
            f"{'/'.join(str(p) for p in error.absolute_path) or '(body)'}: {error.message}"
            for error in validator.iter_errors(body)
        ]


def _pattern(path: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    names: list[str] = []

    def group(match: re.Match[str]) -> str:
        names.append(match.group(1).lstrip("+"))
        return "([^/:]+)" if not match.group(1).startswith("+") else "(.+?)"

    regex = re.sub(r"\{([^}]+)\}", group, re.escape(path).replace(r"\{", "{").replace(r"\}", "}"))
    return re.compile(regex), tuple(names)


def _methods(resources: dict[str, Any], service_path: str) -> list[Method]:
    found = []
    for resource in resources.values():
        for method in resource.get("methods", {}).values():
            path = "/" + service_path + method.get("flatPath", method["path"])
            query = frozenset(
                name for name, p in method.get("parameters", {}).items() if p["location"] == "query"
            )
            pattern, params = _pattern(path)
            request = method.get("request", {}).get("$ref")
            found.append(
                Method(method["id"], method["httpMethod"], pattern, params, query, request, False)
            )
            upload = method.get("mediaUpload", {}).get("protocols", {}).get("simple", {})
            if upload:
                pattern, params = _pattern(upload["path"])
                found.append(
                    Method(method["id"], method["httpMethod"], pattern, params, query, None, True)
                )
        found.extend(_methods(resource.get("resources", {}), service_path))
    return found


@cache
def load(name: str, version: str = "v1") -> Api:
    document = json.loads(get_static_doc(name, version) or "{}")
    definitions = {key: _convert(value) for key, value in document["schemas"].items()}
    methods = _methods(document["resources"], document.get("servicePath", ""))
    # The most specific paths first (custom verbs and longer paths before shorter ones).
    methods.sort(key=lambda m: -len(m.pattern.pattern))
    return Api(name, tuple(methods), definitions)


@cache
def _validator(api: str, schema: str) -> jsonschema.Draft202012Validator:
    definitions = load(api).definitions
    return jsonschema.Draft202012Validator({"$ref": f"#/$defs/{schema}", "$defs": definitions})
