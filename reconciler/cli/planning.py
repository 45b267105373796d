"""Commands that read and plan: validate, plan, show, graph."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from reconciler.cli.common import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    budget_options,
    check_names,
    driver,
    inputs,
    load_or_exit,
    print_diagnostics,
    selection_options,
    summary,
    use_colour,
    variable_options,
)

FORMAT = click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "markdown", "labels"]),
    default="text",
    show_default=True,
    help="text for a terminal, markdown for a pull-request comment, json for programs, "
    "labels for the pull request's labels (a line each: add or remove LABEL).",
)


def render(document: dict[str, Any], output_format: str) -> str:
    if output_format == "json":
        return json.dumps(document, indent=2, sort_keys=False) + "\n"
    if output_format == "labels":
        from reconciler.render.annotations import labels

        return labels(document)
    if output_format == "markdown":
        from reconciler.render.markdown import render_markdown

        return render_markdown(document)
    from reconciler.render.text import render_text

    return render_text(document, colour=use_colour(sys.stdout))


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@variable_options
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "github", "gitlab"]),
    default="text",
    show_default=True,
    help="json: a list of diagnostic objects; github: GitHub Actions annotations; "
    "gitlab: a GitLab Code Quality report.",
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
    from reconciler.kinds import load_stack

    result = load_stack(paths, inputs(variables, var_files))
    found = [d.to_json() for d in result.diagnostics]
    if output_format == "json":
        click.echo(json.dumps(found, indent=2))
    elif output_format in ("github", "gitlab"):
        from reconciler.render import annotations

        write = {"github": annotations.github, "gitlab": annotations.gitlab}[output_format]
        click.echo(write([_from_here(d) for d in found]), nl=False)
    else:
        print_diagnostics(result.diagnostics)
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
            click.echo(f"Invalid: {summary(result.diagnostics)}.", err=True)
    sys.exit(EXIT_OK if result.ok else EXIT_ERROR)


def _from_here(diagnostic: dict[str, Any]) -> dict[str, Any]:
    """A diagnostic whose file is relative to the working directory, as CI systems place
    annotations (by repository path, the job running at the repository's root)."""
    path = diagnostic.get("file")
    if path and os.path.isabs(path):
        relative = os.path.relpath(path)
        if not relative.startswith(".."):
            return {**diagnostic, "file": relative}
    return diagnostic


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@variable_options
@FORMAT
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 1 on error, 2 when there are changes, 4 when "
    "the forecast exceeds a budget.",
)
@click.option("-o", "--out", "out_file", type=click.Path(dir_okay=False), help="Save the plan.")
@selection_options
@budget_options
@click.option(
    "--allow-over-budget",
    is_flag=True,
    help="Let apply go on with this plan (saved with -o) even over budget: the override "
    "is part of the reviewed plan.",
)
def plan(
    paths: tuple[str, ...],
    variables: tuple[str, ...],
    var_files: tuple[str, ...],
    output_format: str,
    detailed_exitcode: bool,
    out_file: str | None,
    targets: tuple[str, ...],
    retrain: tuple[str, ...],
    max_cost: float | None,
    allow_over_budget: bool,
) -> None:
    """Show which jobs will train, which versions deploy, and why, with what each will
    take and cost.

    Reads the manifests and the live resources; never builds, uploads or runs
    anything (it writes only its file-hash cache in the stack home).
    """
    from reconciler.apply.planning import make_plan
    from reconciler.render.jsonplan import plan_to_json

    stack = load_or_exit(paths, variables, var_files)
    check_names(stack, targets, retrain)
    planned = make_plan(
        stack,
        driver(stack),
        targets=targets,
        retrain=retrain,
        paths=tuple(os.path.abspath(p) for p in paths),
        max_cost=max_cost,
        allow_over_budget=allow_over_budget,
    )
    document = plan_to_json(planned.plan)
    if out_file:
        with open(out_file, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")
    click.echo(render(document, output_format), nl=False)
    if planned.plan.errors:
        sys.exit(EXIT_ERROR)
    if detailed_exitcode and planned.plan.over_budget:
        from reconciler.apply.saved import OverBudget  # apply refuses it with the same code

        sys.exit(OverBudget.exit_code)
    if detailed_exitcode and not planned.plan.converged:
        sys.exit(EXIT_CHANGES)
    sys.exit(EXIT_OK)


@click.command()
@click.argument("plan_file", type=click.Path(exists=True, dir_okay=False))
@FORMAT
def show(plan_file: str, output_format: str) -> None:
    """Render a plan saved with `mlapply plan -o FILE`."""
    from reconciler.render.jsonplan import read_plan_file

    click.echo(render(read_plan_file(plan_file), output_format), nl=False)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@variable_options
def graph(paths: tuple[str, ...], variables: tuple[str, ...], var_files: tuple[str, ...]) -> None:
    """Print the dependency graph of the stack as Graphviz DOT."""
    from reconciler.render.dot import render_dot

    click.echo(render_dot(load_or_exit(paths, variables, var_files)), nl=False)


def register(group: click.Group) -> None:
    for command in (validate, plan, show, graph):
        group.add_command(command)
