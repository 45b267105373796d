"""The ``mlapply`` command line: commands, output and exit codes.

The only module that prints. Heavy modules (YAML, JSON Schema, and later
TensorFlow or the Google client) are imported inside the commands that need
them, so ``mlapply --help`` starts fast.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from reconciler import __version__
from reconciler.diagnostics import Diagnostic, MlapplyError, Severity

if TYPE_CHECKING:
    from reconciler.manifests import VariableInputs
    from reconciler.serving.catalog import Catalog
    from reconciler.stack import Stack

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2


def _use_colour(stream: Any) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _print_diagnostics(diagnostics: Sequence[Diagnostic]) -> None:
    colour = _use_colour(sys.stderr)
    for diagnostic in diagnostics:
        text = diagnostic.render()
        if colour:
            word = f"{diagnostic.severity.value}:"
            tint = "red" if diagnostic.is_error else "yellow"
            text = text.replace(word, click.style(word, fg=tint, bold=True), 1)
        click.echo(text, err=True, color=colour)


def _summary(diagnostics: Sequence[Diagnostic]) -> str:
    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    warnings = len(diagnostics) - errors
    parts = [f"{errors} error{'s' if errors != 1 else ''}"]
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return ", ".join(parts)


class _Group(click.Group):
    """Turns every failure into one clear line; ``--debug`` shows the traceback.

    ``mlapply PATH`` is short for ``mlapply apply PATH``.
    """

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and os.path.exists(args[0]):
            return "apply", self.commands["apply"], args
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except MlapplyError as exc:
            self._fail(ctx, exc.message, exc.hint, exc)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:
            self._fail(
                ctx,
                f"internal error: {type(exc).__name__}: {exc}",
                "this is a bug in mlapply; rerun with --debug and report the traceback",
                exc,
            )

    @staticmethod
    def _fail(ctx: click.Context, message: str, hint: str | None, exc: BaseException) -> NoReturn:
        if ctx.find_root().params.get("debug"):
            traceback.print_exception(exc)
        _print_diagnostics([Diagnostic(message, hint=hint)])
        ctx.exit(EXIT_ERROR)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlapply")
@click.option("--debug", is_flag=True, envvar="MLAPPLY_DEBUG", help="Show tracebacks of errors.")
def cli(debug: bool) -> None:
    """Declarative manifests for ML training jobs and model deployments.

    mlapply reads YAML manifests (Stack, Dataset, Trainer, TrainingJob,
    Model, ModelVersion), compares them with the jobs and model versions
    that exist, and shows or carries out what it takes to match them.
    """


def _variable_options(command: Any) -> Any:
    command = click.option(
        "--var-file",
        "var_files",
        multiple=True,
        type=click.Path(dir_okay=False),
        help="A YAML file of NAME: VALUE variables (repeatable).",
    )(command)
    return click.option(
        "--var",
        "variables",
        multiple=True,
        metavar="NAME=VALUE",
        help="Set a variable declared in the Stack (repeatable; wins over files and env).",
    )(command)


def _selection_options(command: Any) -> Any:
    command = click.option(
        "--retrain",
        multiple=True,
        metavar="NAME",
        help="Train this TrainingJob again even if it is up to date (repeatable).",
    )(command)
    return click.option(
        "--target",
        "targets",
        multiple=True,
        metavar="ADDRESS",
        help="Only this resource and what it depends on (repeatable).",
    )(command)


def _inputs(variables: Sequence[str], var_files: Sequence[str]) -> VariableInputs:
    from reconciler.manifests import VariableInputs

    return VariableInputs(flags=tuple(variables), files=tuple(var_files), environ=dict(os.environ))


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_variable_options
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: a list of diagnostic objects (for CI annotations).",
)
def validate(
    paths: tuple[str, ...],
    variables: tuple[str, ...],
    var_files: tuple[str, ...],
    output_format: str,
) -> None:
    """Check manifests: YAML, schemas, variables and references.

    PATHS are manifest files or folders (searched recursively for *.yaml and
    *.yml; hidden folders and the stack home .mlapply/ are skipped). Runs no
    code from the manifests or the trainer. Exit status: 0 valid, 1 errors.
    """
    from reconciler.stack import load_stack

    result = load_stack(paths, _inputs(variables, var_files))
    if output_format == "json":
        click.echo(json.dumps([d.to_json() for d in result.diagnostics], indent=2))
    else:
        _print_diagnostics(result.diagnostics)
        if result.ok and result.stack is not None:
            stack = result.stack
            documents = len(result.manifests.documents) if result.manifests else 0
            files = len(result.manifests.files) if result.manifests else 0
            click.echo(
                f"Valid: {documents} document{'s' if documents != 1 else ''} in {files} "
                f'file{"s" if files != 1 else ""}, stack "{stack.name}" '
                f"(backend {stack.settings.backend})."
            )
        else:
            click.echo(f"Invalid: {_summary(result.diagnostics)}.", err=True)
    sys.exit(EXIT_OK if result.ok else EXIT_ERROR)


def _load_or_exit(
    paths: Sequence[str], variables: Sequence[str], var_files: Sequence[str]
) -> Stack:
    """The stack, or exit 1 after printing every diagnostic."""
    from reconciler.stack import load_stack

    result = load_stack(paths, _inputs(variables, var_files))
    _print_diagnostics(result.diagnostics)
    if not result.ok or result.stack is None:
        click.echo(f"Invalid: {_summary(result.diagnostics)}.", err=True)
        sys.exit(EXIT_ERROR)
    return result.stack


def _check_names(stack: Stack, targets: Sequence[str], retrain: Sequence[str]) -> None:
    from reconciler.diagnostics import did_you_mean

    known = sorted(stack.resources())
    for target in targets:
        if target not in known:
            raise MlapplyError(
                f"--target {target}: no such resource",
                did_you_mean(target, known) or "addresses look like job.NAME or version.NAME",
            )
    for name in retrain:
        if name not in stack.jobs:
            raise MlapplyError(
                f"--retrain {name}: no TrainingJob of that name",
                did_you_mean(name, sorted(stack.jobs)),
            )


def _render(document: dict[str, Any], output_format: str) -> str:
    if output_format == "json":
        return json.dumps(document, indent=2, sort_keys=False) + "\n"
    if output_format == "markdown":
        from reconciler.render.markdown import render_markdown

        return render_markdown(document)
    from reconciler.render.text import render_text

    return render_text(document, colour=_use_colour(sys.stdout))


_FORMAT = click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="text for a terminal, markdown for a pull-request comment, json for programs.",
)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_variable_options
@_FORMAT
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 1 on error, 2 when there are changes.",
)
@click.option("-o", "--out", "out_file", type=click.Path(dir_okay=False), help="Save the plan.")
@_selection_options
def plan(
    paths: tuple[str, ...],
    variables: tuple[str, ...],
    var_files: tuple[str, ...],
    output_format: str,
    detailed_exitcode: bool,
    out_file: str | None,
    targets: tuple[str, ...],
    retrain: tuple[str, ...],
) -> None:
    """Show which jobs will train, which versions deploy, and why.

    Reads the manifests and the live resources; never builds, uploads or runs
    anything (it writes only its file-hash cache in the stack home).
    """
    from reconciler.apply.planning import make_plan
    from reconciler.backends.select import backend_for
    from reconciler.render.jsonplan import plan_to_json

    stack = _load_or_exit(paths, variables, var_files)
    _check_names(stack, targets, retrain)
    planned = make_plan(
        stack,
        backend_for(stack.settings),
        targets=targets,
        retrain=retrain,
        paths=tuple(os.path.abspath(p) for p in paths),
    )
    document = plan_to_json(planned.plan)
    if out_file:
        with open(out_file, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")
    click.echo(_render(document, output_format), nl=False)
    if planned.plan.errors:
        sys.exit(EXIT_ERROR)
    if detailed_exitcode and planned.plan.has_changes:
        sys.exit(EXIT_CHANGES)
    sys.exit(EXIT_OK)


def _confirm_or_exit(auto_approve: bool, question: str) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise MlapplyError(
            "there is no terminal to ask for confirmation",
            "review the plan and rerun with --auto-approve (as CI does)",
        )
    if not click.confirm(question, default=False):
        click.echo("Nothing was changed.")
        sys.exit(EXIT_OK)


def _print_event(event: Any) -> None:
    from reconciler.apply.executor import EventKind

    stamp = time.strftime("%H:%M:%S")
    text = f"{stamp} {event.address}: {event.kind.value}"
    if event.message:
        text += f": {event.message}"
    colour = {EventKind.FAILED: "red", EventKind.FINISHED: "green", EventKind.SKIPPED: "yellow"}
    tint = colour.get(event.kind)
    click.echo(click.style(text, fg=tint) if tint and _use_colour(sys.stdout) else text)


def _converge(
    paths: Sequence[str],
    variables: Sequence[str],
    var_files: Sequence[str],
    *,
    destroy: bool,
    saved: dict[str, Any] | None,
    auto_approve: bool,
    wait_for_jobs: bool,
    parallelism: int,
    lock_timeout: float,
    targets: tuple[str, ...] = (),
    retrain: tuple[str, ...] = (),
) -> None:
    from reconciler.apply.executor import Executor
    from reconciler.apply.planning import make_plan
    from reconciler.backends.select import backend_for
    from reconciler.plan.model import Action
    from reconciler.render.jsonplan import plan_to_json

    stack = _load_or_exit(paths, variables, var_files)
    _check_names(stack, targets, retrain)
    backend = backend_for(stack.settings)
    with backend.lock(stack.name, lock_timeout):
        planned = make_plan(stack, backend, targets=targets, retrain=retrain, destroy=destroy)
        if saved is not None:
            _refuse_stale(saved, planned.plan)
        document = plan_to_json(planned.plan)
        click.echo(_render(document, "text"), nl=False)
        if planned.plan.errors:
            sys.exit(EXIT_ERROR)
        if not planned.plan.has_changes and not destroy:
            return
        if saved is None:
            _confirm_or_exit(
                auto_approve,
                "Apply these changes?"
                if not destroy
                else f'Destroy everything of stack "{stack.name}"?',
            )
        outcome = Executor(
            planned,
            backend,
            parallelism=parallelism,
            wait_for_jobs=wait_for_jobs,
            on_event=_print_event,
        ).run()
    done = len(outcome.finished)
    if outcome.interrupted:
        click.echo(
            f"Interrupted after {done} change(s); submitted jobs keep running. "
            "Run apply again to carry on.",
            err=True,
        )
        sys.exit(130)
    if outcome.failed:
        click.echo(
            f"Apply failed: {len(outcome.failed)} failed, {len(outcome.skipped)} skipped, "
            f"{done} done.",
            err=True,
        )
        for address, reason in outcome.failed.items():
            click.echo(f"error: {address}: {reason}", err=True)
        sys.exit(EXIT_ERROR)
    if destroy:
        removed = backend.purge(stack.name)
        click.echo(
            f"Destroy complete: {done} change(s); {removed} finished job(s) and "
            "staged package(s) removed."
        )
        return
    click.echo(f"Apply complete: {done} change(s).")
    deployed = sorted(
        {
            c.name
            for c in planned.plan.changes
            if c.kind == "ModelVersion"
            and c.address in outcome.finished
            and c.action in (Action.CREATE, Action.REPLACE, Action.UPDATE)
            and c.name in stack.versions
        }
    )
    for name in deployed:
        version = stack.versions[name]
        where = " ".join(paths)
        click.echo(
            f"Predict with version {name}: mlapply predict {version.model} {where} "
            "--json-instances FILE (or --instances JSON)"
        )


def _refuse_stale(saved: dict[str, Any], plan: Any) -> None:
    if saved["manifests_digest"] != plan.manifests_digest:
        raise MlapplyError(
            "the saved plan is stale: the manifests (or the trainer files or data they point "
            "at) changed since it was made",
            "make the plan again with `mlapply plan -o FILE`; a plan made with --var or "
            "--var-file needs the same ones at apply",
        )
    if saved["snapshot_digest"] != plan.snapshot_digest:
        raise MlapplyError(
            "the saved plan is stale: the live resources changed since it was made",
            "make the plan again with `mlapply plan -o FILE`",
        )


_APPLY_OPTIONS = [
    click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation."),
    click.option(
        "--no-wait",
        is_flag=True,
        help="Submit jobs and return; a later apply deploys what has trained.",
    ),
    click.option(
        "--parallelism",
        default=4,
        show_default=True,
        type=click.IntRange(1, 64),
        help="Changes made at once.",
    ),
    click.option(
        "--lock-timeout",
        default=0.0,
        show_default=True,
        type=float,
        help="Seconds to wait for another apply of the stack to finish.",
    ),
]


def _apply_options(command: Any) -> Any:
    for option in reversed(_APPLY_OPTIONS):
        command = option(command)
    return command


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_variable_options
@_apply_options
@_selection_options
def apply(
    paths: tuple[str, ...],
    variables: tuple[str, ...],
    var_files: tuple[str, ...],
    auto_approve: bool,
    no_wait: bool,
    parallelism: int,
    lock_timeout: float,
    targets: tuple[str, ...],
    retrain: tuple[str, ...],
) -> None:
    """Plan, confirm, then build, train, deploy, cancel and delete until the live
    resources match the manifests. PATHS are manifests, or one saved plan file."""
    saved = None
    if len(paths) == 1 and paths[0].endswith(".json") and os.path.isfile(paths[0]):
        from reconciler.render.jsonplan import read_plan_file

        saved = read_plan_file(paths[0])
        if not saved["options"].get("paths"):
            raise MlapplyError(f"{paths[0]}: the plan does not record its manifest paths")
        paths = tuple(saved["options"]["paths"])
        targets = tuple(saved["options"]["targets"])
        retrain = tuple(saved["options"]["retrain"])
    _converge(
        paths,
        variables,
        var_files,
        destroy=False,
        saved=saved,
        auto_approve=auto_approve or saved is not None,
        wait_for_jobs=not no_wait,
        parallelism=parallelism,
        lock_timeout=lock_timeout,
        targets=targets,
        retrain=retrain,
    )


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_variable_options
@_apply_options
def destroy(
    paths: tuple[str, ...],
    variables: tuple[str, ...],
    var_files: tuple[str, ...],
    auto_approve: bool,
    no_wait: bool,
    parallelism: int,
    lock_timeout: float,
) -> None:
    """Cancel and delete everything live with the stack's label (honouring preventDestroy)."""
    _converge(
        paths,
        variables,
        var_files,
        destroy=True,
        saved=None,
        auto_approve=auto_approve,
        wait_for_jobs=not no_wait,
        parallelism=parallelism,
        lock_timeout=lock_timeout,
    )


@cli.command()
@click.argument("plan_file", type=click.Path(exists=True, dir_okay=False))
@_FORMAT
def show(plan_file: str, output_format: str) -> None:
    """Render a plan saved with `mlapply plan -o FILE`."""
    from reconciler.render.jsonplan import read_plan_file

    document = read_plan_file(plan_file)
    click.echo(_render(document, output_format), nl=False)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_variable_options
def graph(paths: tuple[str, ...], variables: tuple[str, ...], var_files: tuple[str, ...]) -> None:
    """Print the dependency graph of the stack as Graphviz DOT."""
    from reconciler.render.dot import render_dot

    click.echo(render_dot(_load_or_exit(paths, variables, var_files)), nl=False)


@cli.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option(
    "--template",
    default="regression",
    show_default=True,
    help="The trainer template: regression (taxi fare DNN) or classification (tabular).",
)
@click.option("--name", help="Name of the package and the stack (default: the folder's name).")
@click.option("--no-git", is_flag=True, help="Do not make the folder a git repository.")
def init(directory: str, template: str, name: str | None, no_git: bool) -> None:
    """Start a trainer package (trainer/model.py, trainer/task.py, setup.py) with manifests.

    Writes into DIRECTORY (default: here) and refuses to overwrite any file.
    """
    from pathlib import Path

    from reconciler.scaffold import scaffold

    done = scaffold(Path(directory), template, name, git=not no_git)
    click.echo(f"Created a {template} trainer in {directory} ({len(done.written)} files).")
    if done.git_initialised:
        click.echo("Initialised a git repository there (trainer sources must be inside one).")
    manifests = Path(directory) / "manifests"
    click.echo(f"Next: put CSV files in {Path(directory) / 'data'}, then")
    click.echo(f"  mlapply validate {manifests}")
    click.echo(f"  mlapply plan {manifests}")


@cli.command()
@click.argument("lock_id")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_variable_options
def unlock(
    lock_id: str, paths: tuple[str, ...], variables: tuple[str, ...], var_files: tuple[str, ...]
) -> None:
    """Break the stack's apply lock LOCK_ID (when its holder is gone)."""
    from reconciler.backends.select import backend_for

    stack = _load_or_exit(paths, variables, var_files)
    held = backend_for(stack.settings).unlock(stack.name, lock_id)
    click.echo(f'Removed the lock of stack "{stack.name}" held by {held}.')


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_variable_options
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
def status(
    paths: tuple[str, ...],
    variables: tuple[str, ...],
    var_files: tuple[str, ...],
    output_format: str,
) -> None:
    """Live jobs (state, age, duration, CPU, peak memory), models and versions."""
    from reconciler.backends.select import backend_for

    stack = _load_or_exit(paths, variables, var_files)
    backend = backend_for(stack.settings)
    snapshot = backend.read_live(stack.name)
    runtime = backend.job_usage([j.name for j in snapshot.jobs])
    now = time.time()
    jobs: list[dict[str, Any]] = [
        {
            "name": j.name,
            "manifest": j.manifest_name,
            "state": j.state.value,
            "created": j.create_time,
            "duration_seconds": ((j.end_time or now) - j.start_time) if j.start_time else None,
            "mean_cpu": runtime.get(j.name, {}).get("mean_cpu"),
            "peak_memory_bytes": runtime.get(j.name, {}).get("peak_rss_bytes"),
            "error": j.error,
        }
        for j in sorted(snapshot.jobs, key=lambda j: j.create_time or 0)
    ]
    defaults = {m.name: m.default_version for m in snapshot.models}
    models: list[dict[str, Any]] = [
        {
            "name": m.name,
            "description": m.description,
            "versions": [
                {
                    "name": v.name,
                    "state": v.state.value,
                    "default": defaults[m.name] == v.name,
                    "path": v.deployment_uri,
                }
                for v in snapshot.versions
                if v.model == m.name
            ],
        }
        for m in snapshot.models
    ]
    if output_format == "json":
        click.echo(json.dumps({"stack": stack.name, "jobs": jobs, "models": models}, indent=2))
        return
    from reconciler.plan.diff import duration

    click.echo(f'Stack "{stack.name}" (backend {stack.settings.backend})')
    click.echo("\nJobs:" if jobs else "\nJobs: none")
    for job in jobs:
        age = duration(now - job["created"]) if job["created"] else "?"
        took = duration(job["duration_seconds"]) if job["duration_seconds"] is not None else "-"
        cpu = f"{job['mean_cpu']:.1f} CPU" if job["mean_cpu"] is not None else "- CPU"
        memory = (
            f"{job['peak_memory_bytes'] / 2**20:.0f} MiB" if job["peak_memory_bytes"] else "- MiB"
        )
        click.echo(
            f"  {job['name']:<40} {job['state']:<10} age {age:<9} ran {took:<9} "
            f"{cpu:<9} peak {memory}"
        )
        if job["error"] and job["state"] == "FAILED":
            click.echo(f"      {job['error'].splitlines()[-1]}")
    click.echo("\nModels:" if models else "\nModels: none")
    for model in models:
        click.echo(f"  {model['name']}")
        for version in model["versions"]:
            mark = " (default)" if version["default"] else ""
            click.echo(f"    {version['name']} {version['state']}{mark}")


@cli.command()
@click.argument("job")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_variable_options
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the job ends.")
@click.option(
    "--task",
    default="chief-0",
    show_default=True,
    help="Which process's log: chief-0, worker-1, ps-0 ...",
)
def logs(
    job: str,
    paths: tuple[str, ...],
    variables: tuple[str, ...],
    var_files: tuple[str, ...],
    follow: bool,
    task: str,
) -> None:
    """Print a job's log (JOB: the live name, or a TrainingJob's name for its newest job)."""
    from reconciler.backends.select import backend_for

    stack = _load_or_exit(paths, variables, var_files)
    backend = backend_for(stack.settings)
    live = backend.read_live(stack.name).jobs
    matches = [j for j in live if j.name == job] or sorted(
        (j for j in live if j.manifest_name == job), key=lambda j: j.create_time or 0
    )[-1:]
    if not matches:
        from reconciler.diagnostics import did_you_mean

        raise MlapplyError(
            f"no job {job!r} in stack {stack.name!r}",
            did_you_mean(job, sorted({j.name for j in live})),
        )
    name = matches[-1].name
    path = backend.log_file(name, task)
    offset = 0
    while True:
        if path.exists():
            with path.open("rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
                offset += len(chunk)
            if chunk:
                click.echo(chunk.decode(errors="replace"), nl=False)
        if not follow:
            break
        current = next(j for j in backend.read_live(stack.name).jobs if j.name == name)
        if current.state.finished and path.exists() and path.stat().st_size == offset:
            break
        time.sleep(1)


@cli.command()
@click.argument("model")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_variable_options
@click.option("--version", "version_name", help="A version's live name (default: the default).")
@click.option(
    "--json-instances",
    type=click.Path(exists=True, dir_okay=False),
    help='A file of instances: {"instances": [...]}, a JSON list, or JSON lines.',
)
@click.option("--instances", "instances_text", help="Instances as JSON, inline.")
def predict(
    model: str,
    paths: tuple[str, ...],
    variables: tuple[str, ...],
    var_files: tuple[str, ...],
    version_name: str | None,
    json_instances: str | None,
    instances_text: str | None,
) -> None:
    """Predict with a deployed model version, in-process (no server needed)."""
    from reconciler.serving.predict import predict as run_prediction
    from reconciler.serving.predict import read_instances

    if (json_instances is None) == (instances_text is None):
        raise MlapplyError("give exactly one of --json-instances FILE or --instances JSON")
    stack = _load_or_exit(paths, variables, var_files)
    catalog = _read_catalog(stack)
    found = catalog.find(model)
    if found is None:
        raise MlapplyError(
            f"no deployed model {model!r} in stack {stack.name!r} (deployed: {catalog.describe()})",
            "apply the stack first, or check `mlapply status`",
        )
    chosen = version_name or found.default_version
    if chosen is None or chosen not in found.versions:
        known = ", ".join(sorted(found.versions)) or "none"
        what = f"no version {chosen!r}" if chosen else "no default version"
        raise MlapplyError(f"model {found.name} has {what} (versions: {known})")
    if json_instances is not None:
        with open(json_instances, encoding="utf-8") as handle:
            instances = read_instances(handle.read(), json_instances)
    else:
        instances = read_instances(instances_text or "", "--instances")
    predictions = run_prediction(Path(found.versions[chosen]), instances)
    click.echo(json.dumps({"predictions": predictions}, indent=2))


def _read_catalog(stack: Stack) -> Catalog:
    from reconciler.backends.select import backend_for
    from reconciler.serving.catalog import Catalog

    if stack.settings.backend != "local":
        raise MlapplyError(
            f"stack {stack.name!r} deploys to {stack.settings.backend}, whose endpoints serve "
            "online prediction themselves; `mlapply serve` and `predict` serve the local backend"
        )
    return Catalog.from_snapshot(backend_for(stack.settings).read_live(stack.name))


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_variable_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--max-batch",
    default=256,
    show_default=True,
    type=click.IntRange(1),
    help="Most instances in one model call.",
)
@click.option(
    "--batch-wait-ms",
    default=2.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Longest a batch waits for requests already on their way.",
)
@click.option(
    "--max-request-bytes",
    default=1_500_000,
    show_default=True,
    type=click.IntRange(1),
    help="Largest request body.",
)
@click.option(
    "--refresh-seconds",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.05),
    help="How often the deployed versions are read again.",
)
def serve(
    paths: tuple[str, ...],
    variables: tuple[str, ...],
    var_files: tuple[str, ...],
    host: str,
    port: int,
    max_batch: int,
    batch_wait_ms: float,
    max_request_bytes: int,
    refresh_seconds: float,
) -> None:
    """Serve a stack's deployed model versions over HTTP (ML Engine and TF Serving paths)."""
    import asyncio
    import logging

    try:
        from reconciler.serving.server import ModelServer, ServeOptions
        from reconciler.serving.server import serve as run_server
    except ImportError as exc:
        raise MlapplyError(
            f"`mlapply serve` needs the local extra ({exc.name} is missing)",
            "pip install 'mlapply[local]'",
        ) from exc

    stack = _load_or_exit(paths, variables, var_files)
    _read_catalog(stack)  # refuses a cloud stack before anything listens
    options = ServeOptions(
        max_batch=max_batch,
        max_wait=batch_wait_ms / 1000,
        max_request_bytes=max_request_bytes,
        refresh=refresh_seconds,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    def ready(server: ModelServer, url: str) -> None:
        models = server.catalog.models.values()
        click.echo(f"Serving stack {stack.name!r} on {url} (Ctrl-C stops)", err=False)
        for model in sorted(models, key=lambda m: m.name):
            click.echo(
                f"  {model.name}: default {model.default_version or '(none)'}; "
                f"versions {', '.join(sorted(model.versions)) or '(none)'}"
            )
            click.echo(f"    POST {url}/v1/models/{model.name}:predict")
            click.echo(f"    POST {url}/v1/projects/PROJECT/models/{model.name}:predict")
        if host not in ("127.0.0.1", "localhost", "::1"):
            click.echo(f"warning: listening on {host}; the server has no authentication", err=True)
        sys.stdout.flush()

    try:
        asyncio.run(run_server(lambda: _read_catalog(stack), host, port, options, ready))
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    except OSError as exc:
        raise MlapplyError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def main() -> None:
    cli(prog_name="mlapply")


if __name__ == "__main__":
    main()
