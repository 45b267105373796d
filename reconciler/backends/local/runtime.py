"""Job environments: a virtualenv per staged package, like the cloud's pip install.

Each package digest gets one virtualenv under ``HOME/envs/``, created once
(behind a file lock, so concurrent jobs share it) and reused. The host's own
packages stay visible through a ``.pth`` file — TensorFlow, pandas and
cloudml-hypertune there play the part of the cloud runtime image — and the
staged sdist is installed on top with pip, never through a shell.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

from reconciler.diagnostics import MlapplyError

READY = ".ready"
OUTPUT_TAIL_LINES = 30


class RuntimeEnvironmentError(MlapplyError):
    """The job's environment could not be made (the pip output says why)."""


def _check(done: subprocess.CompletedProcess[str], message: str) -> None:
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-OUTPUT_TAIL_LINES:])
        raise RuntimeEnvironmentError(message, tail)


def env_python(env: Path) -> Path:
    return env / "bin" / "python"


def host_tensorflow() -> str | None:
    """The version of the TensorFlow distribution the host has, if any."""
    for distribution in ("tensorflow-cpu", "tensorflow"):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def ensure_env(
    home: Path, package: Path, digest: str, *, legacy_keras: bool = False, timeout: float = 900
) -> Path:
    """The ready virtualenv for ``package`` (built at most once per digest).

    ``legacy_keras``: the runtime is one of the cloud's Keras 2 runtimes (up to
    2.15), emulated with tf-keras beside the host's TensorFlow. tf-keras
    depends on the full ``tensorflow`` package, which would overwrite a host
    ``tensorflow-cpu`` in the same folder, so it is installed without its
    dependencies.
    """
    envs = home / "envs"
    envs.mkdir(parents=True, exist_ok=True)
    key = digest[:16] + ("-keras2" if legacy_keras else "")
    env = envs / key
    with open(envs / f"{key}.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (env / READY).exists():
            return env
        venv.EnvBuilder(clear=True, with_pip=False, symlinks=True).create(env)
        site = Path(sysconfig.get_path("purelib", vars={"base": str(env), "platbase": str(env)}))
        site.mkdir(parents=True, exist_ok=True)
        host = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
        (site / "mlapply-runtime.pth").write_text("\n".join(host) + "\n", encoding="utf-8")
        _pip_install(
            env,
            ["--no-build-isolation", str(package)],
            timeout,
            f"installing {package.name} failed",
        )
        if legacy_keras:
            version = host_tensorflow()
            if version is None:
                raise RuntimeEnvironmentError("a Keras 2 runtime needs TensorFlow on this machine")
            minor = ".".join(version.split(".")[:2])
            _pip_install(
                env,
                ["--no-deps", f"tf-keras=={minor}.*"],
                timeout,
                f"installing tf-keras {minor} for the Keras 2 runtime failed",
            )
        (env / READY).write_text(digest, encoding="utf-8")
    return env


def _pip_install(env: Path, args: list[str], timeout: float, failure: str) -> None:
    command = [str(env_python(env)), "-m", "pip", "install", "--quiet"]
    done = subprocess.run(
        [*command, "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PIP_NO_INPUT": "1"},
    )
    _check(done, failure)
