"""A recording stand-in for the `gh` command line, for the workflows' steps in tests.

It answers the `gh api` calls and `gh run download` the example workflows make,
over a JSON state file (``FAKE_GH_STATE``): pull-request comments and labels,
issues, the pull requests of a commit, artifacts. Each call is appended to
``FAKE_GH_LOG`` (one JSON argv a line). ``--jq`` runs through libjq (the `jq`
package), as gh runs its own jq, printing strings raw.

The routes are the GitHub REST API's (docs.github.com/rest: issues, issue
comments, labels, commits' pull requests, artifacts, checked 2026-12-05).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import jq


def _load() -> dict[str, Any]:
    state: dict[str, Any] = json.loads(Path(os.environ["FAKE_GH_STATE"]).read_text())
    return state


def _save(state: dict[str, Any]) -> None:
    Path(os.environ["FAKE_GH_STATE"]).write_text(json.dumps(state, indent=2))


def _fields(pairs: list[tuple[str, str, bool]]) -> dict[str, Any]:
    """-f (raw) and -F (typed, @file) fields; ``name[]`` collects a list."""
    found: dict[str, Any] = {}
    for key, given, typed in pairs:
        value = Path(given[1:]).read_text() if typed and given.startswith("@") else given
        if key.endswith("[]"):
            found.setdefault(key[:-2], []).append(value)
        else:
            found[key] = value
    return found


def _next_id(state: dict[str, Any]) -> int:
    state["next_id"] = state.get("next_id", 1000) + 1
    return int(state["next_id"])


def api(args: list[str]) -> int:
    method, query, path = "GET", None, ""
    pairs: list[tuple[str, str, bool]] = []
    rest = iter(args)
    for arg in rest:
        if arg in ("-X", "--method"):
            method = next(rest)
        elif arg == "--jq":
            query = next(rest)
        elif arg in ("-f", "--raw-field", "-F", "--field"):
            key, _, value = next(rest).partition("=")
            pairs.append((key, value, arg in ("-F", "--field")))
        elif arg == "--paginate":
            continue
        else:
            path = arg
    fields = _fields(pairs)
    url = urllib.parse.urlsplit(path)
    params = dict(urllib.parse.parse_qsl(url.query))
    state = _load()
    status, answer = route(state, method, url.path, params, fields)
    _save(state)
    if status >= 400:
        print(f"gh: HTTP {status}", file=sys.stderr)
        return 1
    if query is None:
        print(json.dumps(answer))
        return 0
    for value in jq.compile(query).input_value(answer).all():
        print(value if isinstance(value, str) else json.dumps(value))
    return 0


def route(
    state: dict[str, Any], method: str, path: str, params: dict[str, str], fields: dict[str, Any]
) -> tuple[int, Any]:
    parts = path.strip("/").split("/")[3:]  # after repos/OWNER/REPO
    comments = state.setdefault("comments", {})
    labels = state.setdefault("labels", {})
    issues = state.setdefault("issues", [])
    match (method, parts):
        case ("GET", ["issues", number, "comments"]):
            return 200, comments.get(number, [])
        case ("POST", ["issues", number, "comments"]):
            found = {"id": _next_id(state), "body": fields["body"]}
            comments.setdefault(number, []).append(found)
            return 201, found
        case ("PATCH", ["issues", "comments", ident]):
            for listed in comments.values():
                for comment in listed:
                    if str(comment["id"]) == ident:
                        comment["body"] = fields["body"]
                        comment["edited"] = comment.get("edited", 0) + 1
                        return 200, comment
            return 404, None
        case ("POST", ["issues", number, "labels"]):
            have = labels.setdefault(number, [])
            have.extend(label for label in fields["labels"] if label not in have)
            return 200, have
        case ("DELETE", ["issues", number, "labels", label]):
            have = labels.setdefault(number, [])
            if label not in have:
                return 404, None
            have.remove(label)
            return 200, have
        case ("GET", ["commits", sha, "pulls"]):
            return 200, [{"number": n} for n in state.get("pulls_of_commit", {}).get(sha, [])]
        case ("GET", ["actions", "artifacts"]):
            named = [a for a in state.get("artifacts", []) if a["name"] == params.get("name")]
            return 200, {"total_count": len(named), "artifacts": named}
        case ("GET", ["issues"]):
            wanted = params.get("labels", "")
            shown = [
                i
                for i in issues
                if i["state"] == params.get("state", "open") and wanted in i["labels"]
            ]
            return 200, shown
        case ("POST", ["issues"]):
            issue = {
                "number": _next_id(state),
                "title": fields["title"],
                "body": fields.get("body", ""),
                "labels": fields.get("labels", []),
                "state": "open",
            }
            issues.append(issue)
            return 201, issue
        case ("PATCH", ["issues", number]):
            for found in issues:
                if str(found["number"]) == number:
                    found.update({k: v for k, v in fields.items() if k in ("body", "state")})
                    return 200, found
            return 404, None
    return 404, None


def run_download(args: list[str]) -> int:
    run = args[0]
    options = dict(zip(args[1::2], args[2::2], strict=False))
    state = _load()
    found: dict[str, Any] | None = next(
        (
            a
            for a in state.get("artifacts", [])
            if str(a["workflow_run"]["id"]) == run and a["name"] == options["--name"]
        ),
        None,
    )
    if found is None:
        print(f"no artifact {options['--name']} in run {run}", file=sys.stderr)
        return 1
    target = Path(options["--dir"])
    target.mkdir(parents=True, exist_ok=True)
    for name, source in found["files"].items():
        shutil.copy(source, target / name)
    return 0


def main(argv: list[str]) -> int:
    with open(os.environ["FAKE_GH_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(argv) + "\n")
    if argv[:1] == ["api"]:
        return api(argv[1:])
    if argv[:2] == ["run", "download"]:
        return run_download(argv[2:])
    print(f"fake gh: {' '.join(argv)} is not answered here", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
