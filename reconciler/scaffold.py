"""``mlapply init``: a trainer package from a template, and starter manifests for it.

Writes the template's files (``setup.py``, ``trainer/``), a README for the
new project, a ``manifests/`` folder with a Stack, Dataset, Trainer,
TrainingJob, Model and ModelVersion, synthetic data in ``data/`` and a
``sample-request.json``: the project trains, deploys and predicts as made. It
never overwrites: if any file it would write exists, it writes nothing and
says which.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from reconciler.assets import templates_dir
from reconciler.diagnostics import MlapplyError
from reconciler.sampledata import BY_TEMPLATE

_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")


class _Template(NamedTuple):
    """What the manifests of a template say: the job's name suffix, its
    hyperparameters as the template's task.py takes them, the runtime it needs
    when not the default, and the roles it runs as when not every one."""

    suffix: str
    hyperparameters: dict[str, object]
    runtime: str | None = None
    roles: tuple[str, ...] = ()


# The Keras templates train with MultiWorkerMirroredStrategy: no parameter servers.
_KERAS_ROLES = ("master", "worker")
_JOBS = {
    "regression": _Template(
        "dnn",
        {"train_steps": 2000, "hidden_units": "64,32", "learning_rate": 0.01},
        None,
        _KERAS_ROLES,
    ),
    "classification": _Template(
        "classifier",
        {"train_steps": 1000, "hidden_units": "32,16", "learning_rate": 0.005},
        None,
        _KERAS_ROLES,
    ),
    # tf.estimator left TensorFlow in 2.16; train_and_evaluate runs every shape.
    "estimator": _Template("wide-deep", {"train_steps": 1000, "hidden_units": "64,32"}, "2.15"),
}

_MANIFESTS = {
    "stack.yaml": """\
# yaml-language-server: $schema={schema}
apiVersion: mlapply/v1
kind: Stack
metadata:
  name: {name}
spec:
  backend: local
---
apiVersion: mlapply/v1
kind: Dataset
metadata:
  name: {name}-data
spec:
  # CSV files with a header row; see ../README.md for the columns. mlapply init
  # wrote synthetic ones: replace them with yours.
  train: ../data/train-*.csv
  eval: ../data/eval-*.csv
""",
    "training.yaml": """\
# yaml-language-server: $schema={schema}
apiVersion: mlapply/v1
kind: Trainer
metadata:
  name: {name}
spec:
  # The project folder: its setup.py and trainer/ are the package (the stack's
  # manifests, data and home in it are never packaged or hashed).
  source: ..
  module: trainer.task{roles}
---
apiVersion: mlapply/v1
kind: TrainingJob
metadata:
  name: {job}
spec:
  trainer: {name}
  dataset: {name}-data
  hyperparameters:
{hyperparameters}
  scaleTier: BASIC{runtime}
""",
    "serving.yaml": """\
# yaml-language-server: $schema={schema}
apiVersion: mlapply/v1
kind: Model
metadata:
  name: {name}
---
apiVersion: mlapply/v1
kind: ModelVersion
metadata:
  name: {name}-v1
spec:
  model: {name}
  source:
    job: {job}
  default: true
""",
}

_README = """\
# {name}

{article} {template} trainer made by `mlapply init --template {template}`: the package
(`setup.py`, `trainer/`), its manifests (`manifests/`), synthetic data
(`data/train-1.csv`, `data/eval-1.csv`; replace them with yours, with the same
columns, as files matching `data/train-*.csv` and `data/eval-*.csv`) and a
request for the trained model (`sample-request.json`).

From this folder:

```sh
mlapply plan manifests/                      # what will train and deploy, and why
mlapply manifests/ --auto-approve            # train {job}, deploy it as {name}-v1
mlapply predict {name} manifests/ --json-instances sample-request.json
mlapply status manifests/                    # jobs, versions, figures
mlapply destroy manifests/ --auto-approve    # remove all of it
```

The stack's state and the jobs' outputs live in `manifests/.mlapply/`
(ignored by git).

"""
_GITIGNORE = ".mlapply/\n__pycache__/\n*.egg-info/\nbuild/\ndist/\n"


@dataclass(frozen=True)
class Scaffold:
    directory: Path
    written: tuple[Path, ...]
    git_initialised: bool


def templates() -> list[str]:
    return sorted(p.name for p in templates_dir().iterdir() if (p / "trainer").is_dir())


def default_name(directory: Path) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", directory.resolve().name.lower()).strip("-")
    name = name[:40].strip("-")
    return name if name and name[0].isalpha() else "trainer"


def _files(template: Path) -> list[Path]:
    return sorted(
        p.relative_to(template)
        for p in template.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".pyc")
    )


def scaffold(directory: Path, template: str, name: str | None, *, git: bool = True) -> Scaffold:
    available = templates()
    if template not in available:
        raise MlapplyError(f"no template {template!r}", "choose one of: " + ", ".join(available))
    name = name or default_name(directory)
    if not _NAME.match(name):
        raise MlapplyError(
            f"--name {name!r} is not a valid name",
            "use lowercase letters, digits and '-', starting with a letter, at most 40 characters",
        )
    source = templates_dir() / template
    suffix, hyperparameters, runtime, roles = _JOBS[template]
    values = {
        "name": name,
        "job": f"{name}-{suffix}",
        "schema": _schema_reference(),
        "hyperparameters": "\n".join(f"    {k}: {_yaml(v)}" for k, v in hyperparameters.items()),
        "runtime": f'\n  runtimeVersion: "{runtime}"' if runtime else "",
        "roles": f"\n  roles: [{', '.join(roles)}]" if roles else "",
    }
    plan: dict[Path, str | Path] = {
        directory / f: source / f for f in _files(source) if f != Path("README.md")
    }
    for file_name, text in _MANIFESTS.items():
        plan[directory / "manifests" / file_name] = text.format(**values)
    readme = _README.format(template=template, article=article(template).title(), **values)
    plan[directory / "README.md"] = readme + _demoted((source / "README.md").read_text("utf-8"))
    plan[directory / ".gitignore"] = _GITIGNORE
    data = BY_TEMPLATE[template]
    data_files = (directory / "data" / "train-1.csv", directory / "data" / "eval-1.csv")
    request = directory / "sample-request.json"
    existing = sorted(str(p) for p in (*plan, *data_files, request) if p.exists())
    if existing:
        raise MlapplyError(
            "refusing to overwrite existing files: "
            + ", ".join(existing[:5])
            + (f" and {len(existing) - 5} more" if len(existing) > 5 else ""),
            "run init in an empty folder, or move these files away",
        )
    for target, content in plan.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, target)
        else:
            target.write_text(content, encoding="utf-8")
    setup = directory / "setup.py"
    if setup.exists():
        text = setup.read_text(encoding="utf-8")
        setup.write_text(re.sub(r'name="[^"]*"', f'name="{name}"', text, count=1), encoding="utf-8")
    written = data.write(directory / "data", request)
    initialised = git and _git_init(directory)
    return Scaffold(directory, (*plan, *written), initialised)


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _demoted(markdown: str) -> str:
    """The template's own README under the project's title: its headings one level
    down (not the comment lines of its code blocks)."""
    lines, fenced = [], False
    for line in markdown.splitlines(keepends=True):
        fenced ^= line.startswith("```")
        lines.append("#" + line if not fenced and re.match(r"#+ ", line) else line)
    return "".join(lines)


def _yaml(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


def _schema_reference() -> str:
    return (Path(templates_dir()).parent / "schemas" / "manifest.schema.json").as_posix()


def _git_init(directory: Path) -> bool:
    """Make the folder a git repository (as `cargo new` does) unless it is inside one.

    The repository is what a Trainer's source must stay inside of.
    """
    git = shutil.which("git")
    if git is None:
        return False
    inside = subprocess.run(
        [git, "-C", str(directory), "rev-parse", "--is-inside-work-tree"],
        capture_output=True,
        text=True,
        check=False,
    )
    if inside.returncode == 0:
        return False
    done = subprocess.run([git, "init", "-q", str(directory)], capture_output=True, check=False)
    return done.returncode == 0
