"""gcloud's ML Engine commands, flag by flag, as what the manifests declare.

The commands are ``gcloud [beta] ml-engine|ai-platform``: ``jobs submit
training``, ``models create``, ``versions create`` and ``versions
set-default``; their flags are gcloud's (``surface/ai_platform/jobs/submit/
training.py``, ``command_lib/ml_engine/flags.py``, as gcp-api.md section 2.2
reads them). A ``--config`` file's ``trainingInput`` is read first and the
flags given win, as gcloud merges them. Every flag is either translated or
named in a note with why; nothing is dropped unsaid.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from reconciler.importing import trainingspec
from reconciler.importing.script import Command, unresolved


class Note(NamedTuple):
    file: str
    line: int
    message: str

    def render(self) -> str:
        return f"{self.file}:{self.line}: warning: {self.message}"


@dataclass
class Job:
    name: str
    where: tuple[str, int]
    training_input: dict[str, Any] = field(default_factory=dict)
    user_args: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    package_path: str | None = None
    job_dir: str | None = None


@dataclass
class Version:
    name: str
    model: str
    where: tuple[str, int]
    spec: dict[str, Any] = field(default_factory=dict)
    origin: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class Found:
    """Everything the files held, before it becomes manifests."""

    jobs: list[Job] = field(default_factory=list)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: list[Version] = field(default_factory=list)
    defaults: dict[str, str] = field(default_factory=dict)  # model -> its default version
    settings: dict[str, str] = field(default_factory=dict)  # project, region, bucket, account
    configs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    def note(self, where: tuple[str, int], message: str) -> None:
        self.notes.append(Note(where[0], where[1], message))


_GROUPS = ("ml-engine", "ai-platform")
# Flags that take no value (gcloud's boolean flags of these commands).
_SWITCHES = frozenset(
    {
        "--async",
        "--stream-logs",
        "--use-chief-in-tf-config",
        "--enable-web-access",
        "--enable-logging",
        "--enable-console-logging",
        "--quiet",
        "-q",
    }
)
_TIERS = {"basic", "standard-1", "premium-1", "basic-gpu", "basic-tpu", "custom"}
_ROLES = {"master": "master", "worker": "worker", "parameter-server": "parameterServer"}
_IGNORED = {
    "--async": "mlapply apply waits for jobs and shows their progress",
    "--stream-logs": "mlapply apply waits for jobs; on the cloud, logs are in Cloud Logging",
    "--quiet": "mlapply apply asks nothing with --auto-approve",
    "-q": "mlapply apply asks nothing with --auto-approve",
    "--verbosity": "mlapply has no log verbosity",
}
_UNSUPPORTED = {
    "--master-image-uri": "custom containers run on backend vertex (spec.container)",
    "--worker-image-uri": "custom containers run on backend vertex (spec.container)",
    "--parameter-server-image-uri": "custom containers run on backend vertex (spec.container)",
    "--use-chief-in-tf-config": "mlapply's runtimes (2.1 and later) name the chief 'chief' "
    "already; the flag only mattered for custom containers",
    "--enable-web-access": "mlapply has no interactive shell into jobs",
    "--network": "mlapply does not peer jobs with a VPC network",
    "--kms-key": "mlapply does not set a customer-managed encryption key",
    "--kms-keyring": "mlapply does not set a customer-managed encryption key",
    "--kms-location": "mlapply does not set a customer-managed encryption key",
    "--kms-project": "mlapply does not set a customer-managed encryption key",
    "--accelerator": "mlapply does not attach accelerators to model versions",
    "--prediction-class": "mlapply does not deploy custom prediction routines",
    "--package-uris": "mlapply does not deploy custom prediction routines",
    "--explanation-method": "mlapply does not set up explanations",
}


def translate(path: Path, commands: Sequence[Command], found: Found) -> None:
    """Take each ML Engine command of a script into ``found``."""
    for command in commands:
        words = list(command.words)
        if not words or not words[0].endswith("gcloud"):
            continue
        words = words[1:]
        if words and words[0] in ("beta", "alpha"):
            words = words[1:]
        if not words or words[0] not in _GROUPS:
            continue
        where = (str(path), command.line)
        verb = " ".join(w for w in words[1:4] if not w.startswith("-"))
        handler = _HANDLERS.get(_verb_key(verb))
        if handler is None:
            found.note(where, f"gcloud {words[0]} {verb}: not a command mlapply imports; skipped")
            continue
        skip = len(_verb_key(verb).split())
        flags, positional, user_args = _parse(words[1 + skip :])
        handler(found, where, flags, positional, user_args, path.parent)


def _verb_key(verb: str) -> str:
    for key in _HANDLERS:
        if verb.startswith(key):
            return key
    return verb


def _parse(words: list[str]) -> tuple[list[tuple[str, str | None]], list[str], list[str]]:
    """Flags in order (with their value, or None for a switch), positionals, and
    the user args after ``--``."""
    flags: list[tuple[str, str | None]] = []
    positional: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--":
            rest = words[index + 1 :]
            break
        if word.startswith("-"):
            name, equals, value = word.partition("=")
            if equals:
                flags.append((name, value))
            elif name in _SWITCHES or name.startswith("--no-") or index + 1 >= len(words):
                flags.append((name, None))
            else:
                flags.append((name, words[index + 1]))
                index += 1
        else:
            positional.append(word)
        index += 1
    return flags, positional, rest


def _labels(text: str) -> dict[str, str]:
    return dict(part.partition("=")[::2] for part in text.split(",") if part)


def _accelerator(text: str) -> dict[str, Any]:
    """``type=nvidia-tesla-k80,count=1`` as a TrainingInput AcceleratorConfig."""
    parts = _labels(text)
    return {
        "type": parts.get("type", "").upper().replace("-", "_"),
        "count": str(parts.get("count", "1")),
    }


def _submit(
    found: Found,
    where: tuple[str, int],
    flags: list[tuple[str, str | None]],
    positional: list[str],
    user_args: list[str],
    base: Path,
) -> None:
    name = positional[0] if positional else "job"
    job = Job(name, where, user_args=list(user_args))
    if unresolved(name):
        found.note(
            where,
            f"the job id {name} is made by the shell when it runs; mlapply names each job "
            "by its manifest name and content (NAME_<hash>), so a changed job gets a new id",
        )
    for flag, value in flags:
        if flag == "--config" and value is not None:
            config = trainingspec.read_config(base / value, found, where, within=base)
            job.training_input.update(config.get("trainingInput", {}))
            job.labels.update(config.get("labels", {}))
    for flag, value in flags:
        if not _submit_flag(found, job, where, flag, value):
            found.note(where, f"{flag}: not a flag of gcloud jobs submit training mlapply knows")
    found.jobs.append(job)


def _submit_flag(
    found: Found, job: Job, where: tuple[str, int], flag: str, value: str | None
) -> bool:
    spec = job.training_input
    text = value or ""
    role = re.match(r"^--(master|worker|parameter-server)-(machine-type|accelerator|count)$", flag)
    if role is not None:
        field_ = _ROLES[role.group(1)]
        if role.group(2) == "machine-type":
            spec[f"{field_}Type"] = text
            spec.setdefault("scaleTier", "CUSTOM")
        elif role.group(2) == "count":
            spec[f"{field_}Count"] = text
        else:
            spec.setdefault(f"{field_}Config", {})["acceleratorConfig"] = _accelerator(text)
        return True
    simple = {
        "--module-name": "pythonModule",
        "--region": "region",
        "--runtime-version": "runtimeVersion",
        "--python-version": "pythonVersion",
        "--service-account": "serviceAccount",
    }
    if flag in simple:
        spec[simple[flag]] = text
    elif flag == "--scale-tier":
        # gcloud takes the tier in either spelling (standard-1, STANDARD_1).
        if text.lower().replace("_", "-") not in _TIERS:
            found.note(where, f"--scale-tier {text}: not an ML Engine scale tier")
        spec["scaleTier"] = text.upper().replace("-", "_")
    elif flag == "--package-path":
        job.package_path = text
    elif flag == "--packages":
        spec["packageUris"] = text.split(",")
    elif flag == "--job-dir":
        job.job_dir = text
        spec["jobDir"] = text
    elif flag == "--staging-bucket":
        found.settings.setdefault("stagingBucket", text)
    elif flag == "--project":
        found.settings.setdefault("project", text)
    elif flag in ("--labels", "--update-labels"):
        job.labels.update(_labels(text))
    elif flag == "--config":
        pass  # read first
    elif flag in _IGNORED:
        found.note(where, f"{flag}: not needed: {_IGNORED[flag]}")
    elif flag in _UNSUPPORTED:
        found.note(where, f"{flag} {text}".rstrip() + f": not translated: {_UNSUPPORTED[flag]}")
    else:
        return False
    return True


def _model(
    found: Found,
    where: tuple[str, int],
    flags: list[tuple[str, str | None]],
    positional: list[str],
    user_args: list[str],
    base: Path,
) -> None:
    if not positional:
        found.note(where, "models create names no model; skipped")
        return
    spec: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for flag, value in flags:
        text = value or ""
        if flag in ("--regions", "--region"):
            spec["regions"] = text.split(",")
            found.settings.setdefault("region", text.split(",")[0])
        elif flag == "--enable-logging":
            spec["onlinePredictionLogging"] = True
        elif flag == "--description":
            spec["description"] = text
        elif flag == "--labels":
            labels.update(_labels(text))
        elif flag == "--project":
            found.settings.setdefault("project", text)
        elif flag == "--enable-console-logging":
            found.note(where, f"{flag}: not translated: mlapply sets request logging only")
        elif flag in _IGNORED or flag in _UNSUPPORTED:
            found.note(where, f"{flag}: not translated")
        else:
            found.note(where, f"{flag}: not a flag of gcloud models create mlapply knows")
    found.models[positional[0]] = {"spec": spec, "labels": labels, "where": where}


def _version(
    found: Found,
    where: tuple[str, int],
    flags: list[tuple[str, str | None]],
    positional: list[str],
    user_args: list[str],
    base: Path,
) -> None:
    model = next((v for f, v in flags if f == "--model"), None)
    if not positional or not model:
        found.note(where, "versions create needs a version name and --model; skipped")
        return
    version = Version(positional[0], model, where)
    for flag, value in flags:
        if flag == "--config" and value is not None:
            version.spec.update(trainingspec.read_config(base / value, found, where, within=base))
    simple = {
        "--runtime-version": "runtimeVersion",
        "--python-version": "pythonVersion",
        "--machine-type": "machineType",
        "--description": "description",
    }
    for flag, value in flags:
        text = value or ""
        if flag in ("--model", "--config"):
            continue
        if flag == "--origin":
            version.origin = text
        elif flag in simple:
            version.spec[simple[flag]] = text
        elif flag == "--framework":
            version.spec["framework"] = text.upper().replace("-", "_")
        elif flag in ("--min-nodes", "--max-nodes"):
            key = "minNodes" if flag == "--min-nodes" else "maxNodes"
            version.spec.setdefault("autoScaling", {})[key] = int(text)
        elif flag == "--labels":
            version.labels.update(_labels(text))
        elif flag == "--region":
            found.settings.setdefault("region", text)
        elif flag in _IGNORED:
            found.note(where, f"{flag}: not needed: {_IGNORED[flag]}")
        elif flag in _UNSUPPORTED:
            found.note(where, f"{flag}: not translated: {_UNSUPPORTED[flag]}")
        else:
            found.note(where, f"{flag}: not a flag of gcloud versions create mlapply knows")
    found.versions.append(version)


def _set_default(
    found: Found,
    where: tuple[str, int],
    flags: list[tuple[str, str | None]],
    positional: list[str],
    user_args: list[str],
    base: Path,
) -> None:
    model = next((v for f, v in flags if f == "--model"), None)
    if positional and model:
        found.defaults[model] = positional[0]


Handler = Callable[
    [Found, tuple[str, int], list[tuple[str, str | None]], list[str], list[str], Path], None
]
_HANDLERS: dict[str, Handler] = {
    "jobs submit training": _submit,
    "models create": _model,
    "versions create": _version,
    "versions set-default": _set_default,
}


def relative_path(target: str, base: Path, out: Path) -> str:
    """A local path of the script (relative to its folder) as seen from ``out``."""
    if target.startswith("gs://"):
        return target
    absolute = (base / target).resolve()
    return posixpath.relpath(absolute.as_posix(), out.resolve().as_posix())
