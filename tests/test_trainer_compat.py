"""What makes trainers written for Cloud ML Engine fit, checked without training:
log noise, export search, manifest discovery, env and roles checks, packaging
beside a setup.cfg, the serving signature chosen, and honest Python versions."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from reconciler.backends import exports, logtext
from reconciler.backends.local import runtimes
from reconciler.backends.packaging import build_sdist
from reconciler.identity.hashcache import HashCache
from reconciler.kinds import load_stack
from reconciler.serving.signature import choose_signature
from tests.conftest import CASES, WriteFiles

# A chief that failed on TensorFlow 2.17, its log as TensorFlow writes it.
FAILED_LOG = (CASES / "logs" / "failed-chief.log").read_text()


def test_tensorflows_log_noise_is_left_out_and_the_exception_kept() -> None:
    kept = logtext.meaningful(FAILED_LOG)
    assert kept == [
        "epoch 1: loss 3.2",
        "Traceback (most recent call last):",
        '  File "/env/lib/python3.11/site-packages/trainer/task.py", line 3, in <module>',
        "    layer = tf.keras.layers.DenseFeatures(columns)",
        "AttributeError: module 'keras._tf_keras.keras.layers' has no attribute 'DenseFeatures'",
    ]
    assert logtext.tail(FAILED_LOG, 1).startswith("AttributeError")
    assert logtext.tail("2026-12-01 10:00:00.1: I a/b.cc:1] only noise", 5).endswith("noise")


def test_a_keras_2_api_missing_under_keras_3_names_the_runtime_that_has_it() -> None:
    hint = logtext.runtime_hint(FAILED_LOG, keras=3)
    assert hint is not None and 'runtimeVersion: "2.15"' in hint
    assert logtext.runtime_hint(FAILED_LOG, keras=2) is None
    assert logtext.runtime_hint("ValueError: bad data", keras=3) is None
    keras_3 = "AttributeError: module 'keras' has no attribute 'ops'"
    later = logtext.runtime_hint(keras_3, keras=2)
    assert later is not None and '"2.17" or later' in later


def test_export_paths_are_normalised_relative_to_the_output_or_the_job_dir() -> None:
    out, job = "/h/outputs/j/output", "/h/outputs/j"
    assert exports.folders(out, job, None) == [out, job]
    assert exports.folders(out, job, "export/exporter/") == [
        f"{out}/export/exporter",
        f"{job}/export/exporter",
    ]
    assert exports.folders(out, job, "../keras_export") == [f"{job}/keras_export"]
    assert exports.folders(out, job, "../../other") == []
    gs = exports.folders("gs://b/s/jobs/j/output", "gs://b/s/jobs/j", "../model")
    assert gs == ["gs://b/s/jobs/j/model"]


def test_the_newest_export_wins_and_a_missing_one_lists_where_it_looked() -> None:
    listing = {
        "/j/output": [("/j/output/export/e/1", 1), ("/j/output/export/e/2", 2)],
        "/j": [("/j/keras_export", 9)],
    }
    assert exports.find_export("j", "/j/output", "/j", None, lambda f: listing.get(f, []))
    assert (
        exports.find_export("j", "/j/output", "/j", None, lambda f: listing.get(f, []))
        == "/j/output/export/e/2"
    )
    with pytest.raises(exports.NoExport) as missing:
        exports.find_export("j", "/j/output", "/j", None, lambda f: [])
    assert "  /j/output\n  /j" in missing.value.message
    assert missing.value.hint is not None and "exportPath" in missing.value.hint
    with pytest.raises(exports.NoExport, match="leaves the folder of job j"):
        exports.find_export("j", "/j/output", "/j", "../../x", lambda f: [])


STACK = """
apiVersion: mlapply/v1
kind: Stack
metadata: {name: s}
spec: {backend: local}
---
apiVersion: mlapply/v1
kind: Trainer
metadata: {name: t}
spec:
  source: ../pkg
"""


def test_yaml_that_is_not_ours_is_not_a_manifest(write_files: WriteFiles) -> None:
    root = write_files(
        {
            ".git/HEAD": "",
            "manifests/stack.yaml": STACK,
            "manifests/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n",
            "manifests/ci.yaml": "apiVersion: v1\nkind: ConfigMap\n",
            # gcloud's tuning config inside the package: the package's, not a manifest.
            "pkg/hptuning_config.yaml": "trainingInput:\n  hyperparameters: {goal: MAXIMIZE}\n",
            "pkg/trainer/__init__.py": "",
        }
    )
    result = load_stack([str(root)])
    assert result.stack is not None, [d.render() for d in result.diagnostics]
    notes = [d for d in result.diagnostics if d.severity.value == "note"]
    assert len(notes) == 1 and "skipped 2 YAML document(s)" in notes[0].message
    assert not [d for d in result.diagnostics if d.severity.value == "error"]
    (root / "manifests" / "stray.yaml").write_text("trainingInput: {}\n")
    errors = [d.message for d in load_stack([str(root)]).diagnostics if d.severity.value == "error"]
    assert errors == ["document has no kind"]  # outside a package, a kind-less file is a mistake


def _job_stack(write_files: WriteFiles, job_spec: str, trainer_extra: str = "") -> list[str]:
    root = write_files(
        {
            ".git/HEAD": "",
            "pkg/trainer/__init__.py": "",
            "manifests/stack.yaml": STACK
            + trainer_extra
            + "\n---\napiVersion: mlapply/v1\nkind: TrainingJob\nmetadata: {name: j}\n"
            + "spec:\n  trainer: t\n"
            + job_spec,
        }
    )
    result = load_stack([str(root / "manifests")])
    return [d.render() for d in result.diagnostics if d.severity.value == "error"]


def test_env_is_checked_and_cannot_override_what_mlapply_sets(write_files: WriteFiles) -> None:
    assert _job_stack(write_files, "  env: {DATA_DIR: /data, TF_USE_LEGACY_KERAS: '1'}\n") == []
    errors = _job_stack(write_files, "  env:\n    TF_CONFIG: '{}'\n    AIP_MODEL_DIR: /x\n")
    assert len(errors) == 2
    assert "stack.yaml:19:5: error: spec.env cannot set TF_CONFIG" in errors[0]
    bad = _job_stack(write_files, "  env: {1BAD: x}\n")
    assert len(bad) == 1 and "environment variable name" in bad[0]


def test_a_tier_needing_a_role_the_trainer_cannot_run_is_refused(write_files: WriteFiles) -> None:
    roles = "  roles: [master, worker]\n"
    assert _job_stack(write_files, "  scaleTier: BASIC\n", roles) == []
    (error,) = _job_stack(write_files, "  scaleTier: STANDARD_1\n", roles)
    assert "runs only as master, worker" in error and "parameterServer: 2 local processes" in error


def test_runtime_and_python_versions_are_checked_at_validate(write_files: WriteFiles) -> None:
    assert _job_stack(write_files, '  runtimeVersion: "2.11"\n') == []
    (old,) = _job_stack(write_files, '  runtimeVersion: "1.15"\n')
    assert "TensorFlow 1" in old and "stack.yaml:18:19" in old
    (python,) = _job_stack(write_files, '  pythonVersion: "3.1"\n')
    assert "Python 3.1 is not on this machine" in python
    assert runtimes.this_python() in python


def test_a_setup_cfg_and_a_stale_pkg_info_get_a_generated_setup(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "trainer").mkdir(parents=True)
    (source / "trainer" / "__init__.py").write_text("")
    (source / "setup.cfg").write_text("[metadata]\nname = trainer\nversion = 0.1\n")
    (source / "PKG-INFO").write_text("Metadata-Version: 1.0\nName: old\nVersion: 9\n")
    staged = build_sdist(source, "cfg", tmp_path / "staging")
    assert staged.generated_setup
    with tarfile.open(staged.path) as tar:
        names = {"/".join(n.split("/")[1:]) for n in tar.getnames()}
    assert {"setup.py", "setup.cfg", "trainer/__init__.py"} <= names


def test_the_signature_served_is_the_one_ml_engine_served() -> None:
    assert choose_signature(["predict", "serving_default"]) == "serving_default"
    assert choose_signature(["regress"]) == "regress"
    assert choose_signature(["predict", "train"]) == "predict"
    assert choose_signature(["a", "b"]) is None


def test_status_says_what_an_older_runtime_runs_on_and_the_error_a_hint_is_about() -> None:
    from reconciler.backends.base import JobState, LiveJob, LiveSnapshot
    from reconciler.backends.registry import profile
    from reconciler.render.status import render_status, status_view

    python = runtimes.this_python()
    essence = {"essence": {"runtimeVersion": "2.11", "pythonVersion": python}}
    error = "the chief ended with exit code 1:\nAttributeError: no DenseFeatures\nhint: set 2.15"
    job = LiveJob("old_1", {}, JobState.FAILED, error=error, spec=essence, create_time=1.0)
    view = status_view(
        "s", "local", LiveSnapshot("s", jobs=(job,)), {}, 10.0, profile("local").describe_runtime
    )
    text = render_status(view)
    mapped = runtimes.resolve("2.11", python)
    assert not isinstance(mapped, str)
    assert f"runtime 2.11 runs on TensorFlow {mapped.tensorflow_version}, Keras 2" in text
    assert "      AttributeError: no DenseFeatures\n      hint: set 2.15\n" in text


def test_a_nul_character_for_the_trainer_is_refused_at_validate(write_files: WriteFiles) -> None:
    (hyper,) = _job_stack(write_files, '  hyperparameters: {note: "a\\0b"}\n')
    assert "NUL character" in hyper and "stack.yaml:18:27:" in hyper
    (arg,) = _job_stack(write_files, '  args: ["--x=\\0"]\n')
    assert "NUL character" in arg


def test_a_folder_given_twice_is_read_once(write_files: WriteFiles) -> None:
    root = write_files({".git/HEAD": "", "m/stack.yaml": STACK, "pkg/trainer/__init__.py": ""})
    result = load_stack([str(root / "m"), str(root / "m")])
    assert result.stack is not None, [d.render() for d in result.diagnostics]


def test_a_stack_home_outside_the_repository_is_refused_unless_allowed(
    write_files: WriteFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = STACK.replace(
        "spec: {backend: local}", "spec: {backend: local, local: {home: /etc/x}}"
    )
    root = write_files({".git/HEAD": "", "m/stack.yaml": outside, "pkg/trainer/__init__.py": ""})
    errors = [d.render() for d in load_stack([str(root / "m")]).diagnostics]
    assert len(errors) == 1 and "spec.local.home /etc/x is outside the repository" in errors[0]
    assert "MLAPPLY_ALLOW_HOME_OUTSIDE_REPO=1" in errors[0]
    monkeypatch.setenv("MLAPPLY_ALLOW_HOME_OUTSIDE_REPO", "1")
    assert load_stack([str(root / "m")]).stack is not None


@pytest.mark.parametrize("pattern", ["../data/*.csv", "../data", "../data/**"])
def test_plan_reads_a_bounded_amount_of_data(
    pattern: str, write_files: WriteFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from reconciler import cli
    from reconciler.identity import content

    dataset = "\n---\napiVersion: mlapply/v1\nkind: Dataset\nmetadata: {name: d}\nspec:\n"
    root = write_files(
        {
            ".git/HEAD": "",
            "pkg/trainer/__init__.py": "",
            "m/stack.yaml": STACK + dataset + f"  train: {pattern}\n",
            **{f"data/{i}.csv": "x\n1\n" for i in range(3)},
        }
    )
    monkeypatch.setattr(content, "MAX_FILES", 2)
    result = CliRunner().invoke(cli.cli, ["plan", str(root / "m")])
    assert result.exit_code == 1
    assert f"Dataset \"d\": pattern '{pattern}' needs more than 2 files" in result.output
    assert "fingerprint: paths" in result.output and "Traceback" not in result.output


def test_a_file_matched_twice_counts_once_against_the_bound(
    write_files: WriteFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``**`` matches the folder and each file in it: three files, not six."""
    from click.testing import CliRunner

    from reconciler import cli
    from reconciler.identity import content

    dataset = "\n---\napiVersion: mlapply/v1\nkind: Dataset\nmetadata: {name: d}\nspec:\n"
    root = write_files(
        {
            ".git/HEAD": "",
            "pkg/trainer/__init__.py": "",
            "m/stack.yaml": STACK + dataset + "  train: ../data/**\n",
            **{f"data/sub/{i}.csv": "x\n1\n" for i in range(3)},
        }
    )
    monkeypatch.setattr(content, "MAX_FILES", 3)
    result = CliRunner().invoke(cli.cli, ["plan", str(root / "m")])
    assert result.exit_code == 0, result.output
    # The files keep the spelling they were matched with, relative to the manifest:
    # an absolute path would make the job's identity differ from machine to machine.
    stack = load_stack([str(root / "m")]).stack
    assert stack is not None
    found = content.data_fingerprint(stack.datasets["d"], ["../data/**"], HashCache(None))
    assert sorted(found.files) == [f"../data/sub/{i}.csv" for i in range(3)]
