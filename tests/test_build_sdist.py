"""Building trainer sources into staged sdists: real PEP 517 builds, reuse, failures."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from reconciler.backends.packaging import BuildError, build_sdist
from reconciler.identity.content import trainer_fingerprint
from reconciler.identity.hashcache import HashCache
from tests.conftest import REPO


def _names(archive: Path) -> set[str]:
    with tarfile.open(archive) as tar:
        return {"/".join(n.split("/")[1:]) for n in tar.getnames()}


def test_builds_the_template_once_and_reuses_it(tmp_path: Path) -> None:
    source = REPO / "trainer_templates" / "regression"
    staged = build_sdist(source, "taxifare", tmp_path)
    assert not staged.reused and not staged.generated_setup
    assert staged.digest == trainer_fingerprint(source, HashCache(None)).digest
    assert staged.path.name == f"taxifare-{staged.digest[:16]}.tar.gz"
    assert {"trainer/model.py", "trainer/task.py", "setup.py"} <= _names(staged.path)
    assert not list(source.glob("*.egg-info")), "the build must not write into the source"
    again = build_sdist(source, "taxifare", tmp_path)
    assert again.reused and again.path == staged.path


def test_a_source_without_setup_gets_a_generated_one(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "trainer").mkdir(parents=True)
    (source / "trainer" / "__init__.py").write_text("")
    (source / "trainer" / "task.py").write_text("print('training')\n")
    staged = build_sdist(source, "bare", tmp_path / "staging")
    assert staged.generated_setup
    assert {"trainer/task.py", "setup.py"} <= _names(staged.path)
    assert not (source / "setup.py").exists()


def test_a_failing_build_reports_its_own_output(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "trainer").mkdir(parents=True)
    (source / "trainer" / "__init__.py").write_text("")
    (source / "setup.py").write_text("raise SystemExit('setup.py is broken on purpose')\n")
    with pytest.raises(BuildError) as failure:
        build_sdist(source, "broken", tmp_path / "staging")
    assert "setup.py is broken on purpose" in (failure.value.hint or "")
    assert not list((tmp_path / "staging").glob("*"))
