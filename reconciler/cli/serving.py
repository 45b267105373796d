"""Commands that serve predictions from this machine: serve and predict."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.backends.registry import facet, provides
from reconciler.cli.common import (
    allow_host_option,
    driver,
    load_or_exit,
    require,
    serve_until_stopped,
    tensorflow_log,
    variable_options,
    warn_if_exposed,
)
from reconciler.diagnostics import MlapplyError
from reconciler.lazy import LazyModule

if TYPE_CHECKING:
    from reconciler.backends import facets
    from reconciler.serving import quiet
    from reconciler.serving.catalog import Catalog
    from reconciler.stack import Stack
else:
    facets = LazyModule("reconciler.backends.facets")
    quiet = LazyModule("reconciler.serving.quiet")  # logging: predict and serve only


@click.command()
@click.argument("model")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@variable_options
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
    stack = load_or_exit(paths, variables, var_files)
    answers = provides(stack.settings.backend, facets.Facet.PREDICTIONS)
    if not answers:
        require(stack, facets.Facet.LOCAL_MODELS)  # in-process, from the versions' folders
    if json_instances is not None:
        with open(json_instances, encoding="utf-8") as handle:
            instances = read_instances(handle.read(), json_instances)
    else:
        instances = read_instances(instances_text or "", "--instances")
    if answers:
        answered = facet(driver(stack), facets.Predictions).predict(
            stack.name, model, version_name, instances
        )
        click.echo(json.dumps({"predictions": answered}, indent=2))
        return
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
    quiet.native_stderr_to(tensorflow_log(stack, "predict"))
    predictions = run_prediction(
        Path(found.versions[chosen]),
        instances,
        note=lambda text: click.echo(f"note: {text}", err=True),
    )
    click.echo(json.dumps({"predictions": predictions}, indent=2))


def _read_catalog(stack: Stack) -> Catalog:
    from reconciler.serving.catalog import Catalog

    require(stack, facets.Facet.LOCAL_MODELS)
    backend = driver(stack)
    snapshot = backend.read_live(stack.name)
    return Catalog.from_snapshot(
        snapshot, facet(backend, facets.LocalModels).model_folders(snapshot)
    )


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@variable_options
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
@click.option(
    "--max-connections",
    type=click.IntRange(1),
    help="Most client connections at once (default: the file limit less headroom).",
)
@click.option(
    "--header-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Seconds a client has to send a request's headers.",
)
@click.option(
    "--body-timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Seconds a client has to send a request's body.",
)
@click.option(
    "--idle-timeout",
    default=15.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Seconds an idle keep-alive connection is kept.",
)
@click.option(
    "--figures-seconds",
    default=2.0,
    show_default=True,
    type=click.FloatRange(0.05),
    help="How often what each version served is written to the stack's state, "
    "where a rollout's gates read it.",
)
@allow_host_option
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
    max_connections: int | None,
    header_timeout: float,
    body_timeout: float,
    idle_timeout: float,
    figures_seconds: float,
    allowed_hosts: tuple[str, ...],
) -> None:
    """Serve a stack's deployed model versions over HTTP (ML Engine and TF Serving paths)."""
    import logging

    from reconciler.serving.guard import ClientLimits
    from reconciler.serving.server import ModelServer, ServeOptions
    from reconciler.serving.server import serve as run_server

    stack = load_or_exit(paths, variables, var_files)
    _read_catalog(stack)  # refuses a cloud stack before anything listens
    options = ServeOptions(
        max_batch=max_batch,
        max_wait=batch_wait_ms / 1000,
        max_request_bytes=max_request_bytes,
        refresh=refresh_seconds,
        clients=ClientLimits(max_connections, header_timeout, body_timeout, idle_timeout),
        allowed_hosts=allowed_hosts,
        keep_seconds=figures_seconds,
    )
    quiet.native_stderr_to(tensorflow_log(stack, "serve"))
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
        click.echo(f"  Prometheus: GET {url}/metrics (requests, errors, latency per version)")
        warn_if_exposed(host, "the server")
        sys.stdout.flush()

    models = facet(driver(stack), facets.LocalModels)
    serve_until_stopped(
        run_server(
            lambda: _read_catalog(stack),
            host,
            port,
            options,
            ready,
            keep=lambda rows: models.record_served(stack.name, rows),
        ),
        host,
        port,
    )


def register(group: click.Group) -> None:
    for command in (predict, serve):
        group.add_command(command)
