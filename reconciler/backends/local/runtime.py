"""Job environments: a runtime environment per runtime, a trainer environment per package.

A **runtime environment** is a virtualenv of one real TensorFlow release and
the packages Google's runtime images carried (``runtimes.Runtime``), built
once per (TensorFlow, Python) in the runtime cache (``MLAPPLY_RUNTIMES``, else
``~/.cache/mlapply/runtimes``), behind a file lock so concurrent jobs share
it, and reused by every job and stack. Its pip output goes to a log that
``apply`` shows as progress: the first build is a large download.

A **trainer environment** is a virtualenv per package digest and runtime,
under the stack home's ``envs/``: the runtime's packages stay visible
through a ``.pth`` file and the staged sdist is installed on top with pip
(what the trainer declares and the runtime lacks comes from PyPI), never
through a shell.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from reconciler.backends.local.runtimes import BUILT_SIZE, Runtime
from reconciler.diagnostics import MlapplyError

READY = ".ready"
OUTPUT_TAIL_LINES = 30
BUILD_TIMEOUT_SECONDS = 3600.0
"""A runtime's first build downloads about 1.5 GB; a pip that hangs longer is stopped."""
INSTALL_TIMEOUT_SECONDS = 900.0


class RuntimeEnvironmentError(MlapplyError):
    """An environment could not be made (the pip output says why)."""


def runtime_cache() -> Path:
    found = os.environ.get("MLAPPLY_RUNTIMES")
    if found:
        return Path(found)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "mlapply" / "runtimes"


def env_python(env: Path) -> Path:
    return env / "bin" / "python"


def site_packages(env: Path, python: str) -> Path:
    return env / "lib" / f"python{python}" / "site-packages"


@contextmanager
def _locked(folder: Path, key: str) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{key}.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_runtime(runtime: Runtime, log: TextIO, cache: Path | None = None) -> Path:
    """The runtime environment of ``runtime``, built first if this machine has none."""
    cache = cache or runtime_cache()
    env = cache / runtime.key
    with _locked(cache, runtime.key):
        if (env / READY).is_file():
            return env
        started = time.monotonic()
        log.write(
            f"building the runtime environment {runtime.key} ({runtime.describe()}; "
            f"first use on this machine, {BUILT_SIZE} to download) in {env}\n"
        )
        log.flush()
        _run([runtime.executable, "-m", "venv", "--clear", str(env)], log, "making the venv")
        _pip(
            env,
            ["--progress-bar", "off", *runtime.requirements()],
            log,
            timeout=BUILD_TIMEOUT_SECONDS,
        )
        _alias_tensorflow(env, runtime)
        frozen = _run([str(env_python(env)), "-m", "pip", "freeze"], log, "listing it", quiet=True)
        (env / READY).write_text(
            json.dumps(
                {
                    "runtime": runtime.key,
                    "requirements": runtime.requirements(),
                    "packages": frozen.splitlines(),
                    "seconds": round(time.monotonic() - started, 1),
                },
                indent=1,
            ),
            encoding="utf-8",
        )
        log.write(f"runtime environment {runtime.key} ready\n")
        log.flush()
    return env


def _alias_tensorflow(env: Path, runtime: Runtime) -> None:
    """Record ``tensorflow-cpu`` under the name ``tensorflow`` too.

    It is the same code without the GPU kernels; the runtime images had it as
    ``tensorflow``, so trainers list ``tensorflow`` in ``install_requires``.
    Without this record pip would download a second, full TensorFlow into
    every trainer environment.
    """
    site = site_packages(env, runtime.python)
    cpu = sorted(site.glob("tensorflow_cpu-*.dist-info"))
    if not cpu:
        return
    version = cpu[-1].name.removeprefix("tensorflow_cpu-").removesuffix(".dist-info")
    alias = site / f"tensorflow-{version}.dist-info"
    alias.mkdir(exist_ok=True)
    (alias / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: tensorflow\nVersion: {version}\n"
        "Summary: tensorflow-cpu, recorded under this name by mlapply\n",
        encoding="utf-8",
    )
    (alias / "INSTALLER").write_text("mlapply\n", encoding="utf-8")
    (alias / "RECORD").write_text("", encoding="utf-8")


def ensure_env(
    home: Path, package: Path, digest: str, runtime: Runtime, runtime_env: Path, log: TextIO
) -> Path:
    """The ready trainer environment for ``package`` on ``runtime_env`` (made at most
    once per package digest and runtime)."""
    envs = home / "envs"
    key = f"{digest[:16]}-{runtime.key}"
    env = envs / key
    with _locked(envs, key):
        if (env / READY).exists():
            return env
        _run(
            [runtime.executable, "-m", "venv", "--clear", "--without-pip", str(env)],
            log,
            "making the trainer's venv",
        )
        site = site_packages(env, runtime.python)
        site.mkdir(parents=True, exist_ok=True)
        base = site_packages(runtime_env, runtime.python)
        (site / "mlapply-runtime.pth").write_text(f"{base}\n", encoding="utf-8")
        log.write(f"installing {package.name} on {runtime.key}\n")
        log.flush()
        _pip(
            env,
            ["--no-build-isolation", str(package)],
            log,
            f"installing {package.name} failed",
            timeout=INSTALL_TIMEOUT_SECONDS,
        )
        (env / READY).write_text(digest, encoding="utf-8")
    return env


def _pip(
    env: Path, args: list[str], log: TextIO, failure: str | None = None, *, timeout: float
) -> None:
    _run(
        [str(env_python(env)), "-m", "pip", "install", "--disable-pip-version-check", *args],
        log,
        failure or "installing the runtime's packages",
        timeout=timeout,
    )


def _run(
    command: list[str],
    log: TextIO,
    what: str,
    *,
    quiet: bool = False,
    timeout: float = INSTALL_TIMEOUT_SECONDS,
) -> str:
    """Run ``command``, its output to ``log`` line by line (so apply can show progress);
    a failure, or a run longer than ``timeout``, raises with the output's last lines."""
    lines: list[str] = []
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PIP_NO_INPUT": "1"},
    ) as process:
        assert process.stdout is not None
        watchdog = threading.Timer(timeout, process.kill)
        watchdog.start()
        try:
            for line in process.stdout:
                lines.append(line)
                if not quiet:
                    log.write(line)
                    log.flush()
            code = process.wait()
        finally:
            watchdog.cancel()
    if code != 0:
        tail = "".join(lines[-OUTPUT_TAIL_LINES:]).rstrip()
        message = what if what.endswith("failed") else f"{what} failed"
        if code == -9:
            message += f" (stopped after {timeout:.0f} s)"
        raise RuntimeEnvironmentError(message, tail or None)
    return "".join(lines)
