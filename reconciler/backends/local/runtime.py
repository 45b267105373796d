"""Job environments: a virtualenv per staged package, like the cloud's pip install.

Each package digest gets one virtualenv under ``HOME/envs/``, created once
(behind a file lock, so concurrent jobs share it) and reused. The host's own
packages stay visible through a ``.pth`` file — TensorFlow, pandas and
cloudml-hypertune there play the part of the cloud runtime image — and the
staged sdist is installed on top with pip, never through a shell.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

from reconciler.diagnostics import MlapplyError

READY = ".ready"
OUTPUT_TAIL_LINES = 30


class EnvironmentError_(MlapplyError):
    """The job's environment could not be made (the pip output says why)."""


def env_python(env: Path) -> Path:
    return env / "bin" / "python"


def ensure_env(home: Path, package: Path, digest: str, *, timeout: float = 900) -> Path:
    """The ready virtualenv for ``package`` (built at most once per digest)."""
    envs = home / "envs"
    envs.mkdir(parents=True, exist_ok=True)
    env = envs / digest[:16]
    with open(envs / f"{digest[:16]}.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (env / READY).exists():
            return env
        venv.EnvBuilder(clear=True, with_pip=False, symlinks=True).create(env)
        site = Path(sysconfig.get_path("purelib", vars={"base": str(env), "platbase": str(env)}))
        site.mkdir(parents=True, exist_ok=True)
        host = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
        (site / "mlapply-runtime.pth").write_text("\n".join(host) + "\n", encoding="utf-8")
        done = subprocess.run(
            [
                str(env_python(env)),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-build-isolation",
                "--disable-pip-version-check",
                str(package),
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "PIP_NO_INPUT": "1"},
        )
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-OUTPUT_TAIL_LINES:])
            raise EnvironmentError_(f"installing {package.name} failed", tail)
        (env / READY).write_text(digest, encoding="utf-8")
    return env
