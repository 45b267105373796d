"""Hostile inputs (#30's probe), each with the one answer it must get.

A pull request is untrusted: what it commits must not aim ``plan`` outside the
repository. These run the real command line on a real checkout-shaped folder."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler import cli
from reconciler.backends.local import LocalStore
from reconciler.render.text import render_text
from reconciler.tuning import hypertune

STACK = """apiVersion: mlapply/v1
kind: Stack
metadata: {name: h}
---
apiVersion: mlapply/v1
kind: Trainer
metadata: {name: t}
spec: {source: ../trainer}
---
apiVersion: mlapply/v1
kind: TrainingJob
metadata: {name: j}
spec: {trainer: t}
"""


def _repo(root: Path) -> Path:
    (root / ".git").mkdir(parents=True)
    (root / "trainer" / "trainer").mkdir(parents=True)
    (root / "trainer" / "trainer" / "__init__.py").write_text("")
    (root / "trainer" / "trainer" / "task.py").write_text("print('train')\n")
    manifests = root / "manifests"
    manifests.mkdir()
    (manifests / "stack.yaml").write_text(STACK)
    (manifests / ".mlapply").mkdir()
    return manifests


@pytest.mark.parametrize(
    "committed", ["hashcache.db", "hashcache.db-journal", ".mlapply-home", "state.db"]
)
def test_plan_never_writes_through_a_link_committed_in_the_stack_home(
    tmp_path: Path, committed: str
) -> None:
    manifests = _repo(tmp_path / "repo")
    outside = tmp_path / "outside"
    outside.mkdir()
    elsewhere = outside / "target.db"
    sqlite3.connect(elsewhere).close()  # an existing database somewhere else
    before = elsewhere.read_bytes()
    (manifests / ".mlapply" / committed).symlink_to(elsewhere)

    result = CliRunner().invoke(cli.cli, ["plan", str(manifests)])

    assert result.exit_code == 1, result.output
    assert f".mlapply/{committed} is a link" in result.output
    assert "remove it" in result.output
    assert "Traceback" not in result.output
    assert elsewhere.read_bytes() == before
    assert sorted(p.name for p in outside.iterdir()) == ["target.db"]


# What a trainer writes: its cloudml-hypertune metric file -------------------------------

GOOD = '{"rmse": "2.5", "global_step": "10", "timestamp": 1.0, "trial": "1"}'


@pytest.mark.parametrize(
    "line",
    [
        '{"rmse": 1e999, "global_step": "11"}',  # inf
        '{"rmse": ' + "9" * 400 + ', "global_step": "11"}',  # no float holds it
        '{"global_step": ' + "9" * 400 + ', "rmse": "1"}',
        "[" * 3000 + "]" * 3000,  # too deep for json
        '{"rmse": {"a": ' * 800 + "1" + "}" * 1601,
        '{"rmse": true}',
        '"just text"',
        "\x00\xff not json",
        '{"rmse": "' + "1" * 5000 + '"}',  # longer than a line may be
    ],
)
def test_a_malformed_metrics_line_is_skipped_and_counted(line: str) -> None:
    text = "\n".join([GOOD, line, ""])
    assert hypertune.measurements(text, "rmse") == (hypertune.Measurement(10, 2.5),)
    assert hypertune.reported(text) == {"rmse": 2.5}
    assert hypertune.last_report(text) == {"rmse": 2.5, "step": 10.0}
    assert hypertune.skipped(text) == 1


def test_a_metric_file_is_read_bounded_and_never_through_a_link(tmp_path: Path) -> None:
    import os

    big = tmp_path / "big.metrics"
    with big.open("w") as handle:  # 3 MiB of reports: only the tail is read
        for step in range(40_000):
            handle.write(f'{{"rmse": "{step}", "global_step": "{step}"}}\n')
    read = hypertune.read(big)
    assert read.cut and len(read.text) <= hypertune.TAIL_BYTES
    assert hypertune.last_report(read.text) == {"rmse": 39_999.0, "step": 39_999.0}
    assert read.text.startswith('{"rmse"')  # the partial first line dropped

    link = tmp_path / "zero.metrics"
    link.symlink_to("/dev/zero")
    assert hypertune.read(link) == hypertune.Text("", refused=hypertune.read(link).refused)
    assert hypertune.read(link).refused
    fifo = tmp_path / "fifo.metrics"
    os.mkfifo(fifo)  # no writer: a blocking open would hang
    assert hypertune.read(fifo) == hypertune.Text("", refused="not a regular file")
    assert hypertune.read(tmp_path / "absent") == hypertune.Text("")


# What a plan shows of a manifest ---------------------------------------------------------

FORGED = "x\n```\n\n**No changes.** <!-- \n<img src=https://attacker.example/p.png> [a](b) | c"


def test_a_value_cannot_forge_the_markdown_plan_or_steer_the_terminal(tmp_path: Path) -> None:
    manifests = _repo(tmp_path)
    value = json.dumps(FORGED + "\x1b[2J\r::error::forged")
    job = f"spec:\n  trainer: t\n  hyperparameters:\n    note: {value}\n    fence: '````'\n"
    (manifests / "stack.yaml").write_text(STACK.replace("spec: {trainer: t}\n", job))
    result = CliRunner().invoke(cli.cli, ["plan", str(manifests), "--format", "markdown"])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "\x1b" not in text and "\r" not in text
    head, diff = text.split("<details>")
    bar = diff.split("\n\n")[2].split("diff")[0]  # the fence opening the diff
    assert len(bar) > 4 and diff.count(bar) == 2, diff  # longer than the value's ````
    inside = diff.split(bar)[1]
    assert "x\\n```\\n\\n**No changes.** <!-- \\n<img" in inside  # shown as written
    outside = head + diff.replace(inside, "")
    assert "<img" not in outside and outside.count("<!--") == 1  # the marker only
    assert "**No changes.**" not in outside and "](" not in outside.replace("\\](", "")

    # The terminal's plan shows values of changed fields: as a change of this one would.
    result = CliRunner().invoke(cli.cli, ["plan", str(manifests), "--format", "json"])
    document = json.loads(result.output)
    (change,) = document["changes"]
    forged = FORGED + "\x1b[2J\r::error::forged\u2028::warning::x"
    change["field_changes"] = [
        {
            "op": "change",
            "path": ["note"],
            "before": "a",
            "after": forged,
            "forces_replacement": True,
        }
    ]
    change["reasons"] = [{"text": forged}]
    document["errors"] = [{"message": forged}]
    text = render_text(document, colour=False)
    assert "\x1b" not in text and "\r" not in text and "\u2028" not in text
    assert not [line for line in text.splitlines() if line.lstrip().startswith("::")], text
    assert "\\x1b[2J\\r::error::forged\\u2028::warning::x" in text


# The local store ---------------------------------------------------------------------------


@pytest.mark.parametrize("state", [b"", None, b"not a database at all" * 100])
def test_a_lost_or_unreadable_state_is_refused_and_nothing_is_touched(
    tmp_path: Path, state: bytes | None
) -> None:
    """A 0-byte, missing or garbage state.db beside job folders is refused by every
    command (naming the file and the way out), and the folders stay as they were."""
    manifests = _repo(tmp_path)
    home = manifests / ".mlapply"
    LocalStore(home, create=True).close()
    job = home / "jobs" / "j_c67c24ce"
    (job / "logs").mkdir(parents=True)
    (job / "request.json").write_text("{}")
    if state is None:
        (home / "state.db").unlink()
    else:
        (home / "state.db").write_bytes(state)
    for command in (
        ["status"],
        ["plan"],
        ["apply", "--auto-approve"],
        ["destroy", "--auto-approve"],
    ):
        result = CliRunner().invoke(cli.cli, [*command, str(manifests)])
        assert result.exit_code != 0, (command, result.output)
        assert "state.db" in result.output and "restore" in result.output, result.output
        assert "bug in mlapply" not in result.output and "Traceback" not in result.output
    assert (job / "request.json").read_text() == "{}" and (job / "logs").is_dir()
    assert state is None or (home / "state.db").read_bytes() == state


# Tuning: the grid, and mlapply's own supervisor failing ----------------------------------


def test_a_billion_combination_grid_is_walked_lazily_and_validate_says_what_it_visits(
    tmp_path: Path,
) -> None:
    import tracemalloc

    from reconciler.stack.resources import Tuning, TuningParameter
    from reconciler.tuning import search

    params = tuple(TuningParameter(n, "INTEGER", 0, 999) for n in "abc")
    tuning = Tuning("rmse", params, algorithm="GRID_SEARCH", max_trials=3)
    tracemalloc.start()
    done: list[tuple[search.Params, float | None, str]] = []
    for _ in range(3):
        done.append((search.suggest(tuning, done, seed=1), 1.0, "SUCCEEDED"))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [d[0] for d in done][-1] == {"a": 0, "b": 0, "c": 2}
    assert peak < 5 * 2**20, peak  # the grid itself would take gigabytes

    manifests = _repo(tmp_path)
    grid = "".join(f"      - {{name: {n}, type: INTEGER, min: 0, max: 999}}\n" for n in "abc")
    tuned = (
        "spec:\n  trainer: t\n  hyperparameterTuning:\n    metric: rmse\n    maxTrials: 3\n"
        f"    algorithm: GRID_SEARCH\n    params:\n{grid}"
    )
    (manifests / "stack.yaml").write_text(STACK.replace("spec: {trainer: t}\n", tuned))
    result = CliRunner().invoke(cli.cli, ["validate", str(manifests)])
    assert result.exit_code == 0, result.output
    assert "the grid has 1,000,000,000 combinations; maxTrials 3 visits the first 3" in (
        result.output
    )


def test_a_crash_of_mlapplys_own_study_supervisor_is_its_bug_not_a_lost_machine(
    tmp_path: Path,
) -> None:
    """A study supervisor whose own code raises (here on a request it cannot read: a
    seed that is no number) records the job FAILED, not lost (so no apply retries it
    as the machine's failure), with the traceback's last line and where it is kept."""
    import subprocess
    import sys
    import time

    from reconciler.backends.base import JobState, LiveJob
    from reconciler.stack.resources import LABEL_STACK, Tuning, TuningParameter
    from reconciler.tuning.study import tuning_record

    home = tmp_path / "home"
    store = LocalStore(home, create=True)
    store.put_job(LiveJob("s_1", {LABEL_STACK: "s"}, JobState.QUEUED, create_time=time.time()))
    job_dir = home / "jobs" / "s_1"
    job_dir.mkdir(parents=True)
    tuning = Tuning("rmse", (TuningParameter("lr", "DOUBLE", 0.1, 1.0),), max_trials=2)
    study = {
        **{"tuning": tuning_record(tuning), "parallel": 1, "seed": "no number", "adopt": []},
        **{"argv": [], "job_dir": str(job_dir), "output": "output", "stack": "s", "trial": {}},
    }
    (job_dir / "request.json").write_text(json.dumps({"job": "s_1", "study": study}))
    runner = [sys.executable, "-m", "reconciler.backends.local.runner", str(job_dir), str(home)]
    subprocess.run(runner, capture_output=True, timeout=60, check=False)
    (job,) = LocalStore(home).read("s").jobs
    assert job.state is JobState.FAILED and not job.lost, job
    assert job.error is not None and "bug in mlapply" in job.error, job.error
    assert "ValueError" in job.error and "supervisor-crash.log" in job.error, job.error
    assert "Traceback" in (job_dir / "logs" / "supervisor-crash.log").read_text()


# Deploying what a trainer exported -------------------------------------------------------


def _export(root: Path) -> Path:
    (root / "variables").mkdir(parents=True)
    (root / "saved_model.pb").write_bytes(b"pb")
    (root / "variables" / "variables.index").write_bytes(b"i" * 100)
    return root


@pytest.mark.parametrize("hostile", ["loops", "dev-zero", "outside", "fifo", "too-big"])
def test_deploy_copies_a_regular_tree_only_bounded_and_leaves_nothing_half_made(
    tmp_path: Path, hostile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from reconciler.backends.exportcopy import LIMIT_VARIABLE, copy_export
    from reconciler.diagnostics import MlapplyError

    export = _export(tmp_path / "export")
    if hostile == "loops":
        (export / "variables" / "a").symlink_to("b")
        (export / "variables" / "b").symlink_to("a")
        (export / "assets").symlink_to(".")
    elif hostile == "dev-zero":
        (export / "variables" / "variables.data-00000-of-00001").symlink_to("/dev/zero")
    elif hostile == "outside":
        (export / "assets").symlink_to(tmp_path)
    elif hostile == "fifo":
        os.mkfifo(export / "variables" / "pipe")
    else:
        monkeypatch.setenv(LIMIT_VARIABLE, "0.00000005")  # 50 bytes
    target = tmp_path / "models" / "m" / "v1"
    target.parent.mkdir(parents=True)
    with pytest.raises(MlapplyError) as refused:
        copy_export(export, target)
    said = refused.value.with_hint()
    assert str(export) in said and "[" not in said.split(":", 1)[0], said
    expected = {"too-big": LIMIT_VARIABLE, "fifo": "not a regular file"}.get(hostile, "a link")
    assert expected in said, said
    assert not target.exists() and list((tmp_path / "models" / "m").iterdir()) == []

    if hostile == "too-big":
        monkeypatch.delenv(LIMIT_VARIABLE)
        copy_export(export, target)  # the same tree under the default bound
        assert (target / "variables" / "variables.index").read_bytes() == b"i" * 100


# What validate and plan read -------------------------------------------------------------

DATASET = """---
apiVersion: mlapply/v1
kind: Dataset
metadata: {{name: d}}
spec: {{train: "{train}"}}
"""


def _with_data(manifests: Path, train: str) -> None:
    job = "spec:\n  trainer: t\n  dataset: d\n"
    text = STACK.replace("spec: {trainer: t}\n", job) + DATASET.format(train=train)
    (manifests / "stack.yaml").write_text(text)


@pytest.mark.parametrize("train", ["/etc/**", "/etc/shadow", "../../../../etc/*", "out/**"])
def test_validate_and_plan_read_no_data_outside_the_repository(tmp_path: Path, train: str) -> None:
    manifests = _repo(tmp_path)
    (manifests / "out").symlink_to("/etc")  # a link committed in the pull request
    _with_data(manifests, train)
    for command in ("validate", "plan"):
        result = CliRunner().invoke(cli.cli, [command, str(manifests)])
        assert result.exit_code == 1, result.output
        assert f'"{train}" is outside the repository' in result.output, result.output
        assert "stack.yaml:" in result.output and "matches no files" not in result.output


def test_a_link_among_the_data_files_is_not_followed_out_of_the_repository(
    tmp_path: Path,
) -> None:
    manifests = _repo(tmp_path)
    (manifests / "data").mkdir()
    (manifests / "data" / "a.csv").write_text("x\n1\n")
    (manifests / "data" / "b.csv").symlink_to("/etc/hostname")
    _with_data(manifests, "data/*.csv")
    result = CliRunner().invoke(cli.cli, ["plan", str(manifests)])
    assert result.exit_code == 1, result.output
    assert "b.csv, which is outside the repository" in result.output, result.output
    assert "Traceback" not in result.output


def test_a_trainer_file_linking_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    manifests = _repo(tmp_path)
    (tmp_path / "trainer" / "trainer" / "secrets.txt").symlink_to("/etc/hostname")
    result = CliRunner().invoke(cli.cli, ["plan", str(manifests)])
    assert result.exit_code == 1, result.output
    assert "trainer/secrets.txt links outside the repository" in result.output, result.output


# mlapply import ----------------------------------------------------------------------------

SUBMIT = "gcloud ai-platform jobs submit training j --region us-central1 --config {config}\n"


def _import(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.cli, ["import", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("config", "said"),
    [
        ("trainingInput: {workerCount: abc}", 'trainingInput.workerCount is "abc"'),
        ("trainingInput: {workerCount: -2}", "not a whole number"),
        ("trainingInput: {scaleTier: [1]}", "trainingInput.scaleTier is list"),
        ("trainingInput: [1, 2]", "trainingInput is list, not a mapping"),
        ("trainingInput: {args: abc}", 'trainingInput.args is "abc", not a list'),
        ("trainingInput: {masterConfig: {acceleratorConfig: 3}}", "acceleratorConfig is 3"),
        ("trainingInput: {hyperparameters: {params: [{type: INTEGER}]}}", "has no parameterName"),
        ("trainingInput: {hyperparameters: {params: [7]}}", "params.0 is 7"),
        ("trainingInput: {hyperparameters: {maxTrials: many}}", 'maxTrials is "many"'),
        (
            "trainingInput: {hyperparameters: {params: [{parameterName: a, type: X, minValue: "
            "low}]}}",
            'minValue is "low"',
        ),
        ("trainingInput: {hyperparameters: {enableTrialEarlyStopping: 1}}", "true or false"),
        ("trainingInput: {}\nlabels: [a]", "labels is list"),
        (
            "a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
            "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
            "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
            "alias",
        ),
    ],
)
def test_import_refuses_a_bad_config_at_its_line(tmp_path: Path, config: str, said: str) -> None:
    (tmp_path / "c.yaml").write_text(config + "\n")
    code, output = _import(str(tmp_path / "c.yaml"))
    assert code == 1 and said in output, output
    assert f"{tmp_path / 'c.yaml'}:" in output and "internal error" not in output, output


def test_import_reads_only_what_it_was_given_bounded_and_never_a_heredoc(tmp_path: Path) -> None:
    import os

    (tmp_path / "run.sh").write_text(SUBMIT.format(config="/etc/hostname"))
    code, output = _import(str(tmp_path / "run.sh"))
    assert code == 0 and "outside" in output and "not read" in output, output

    os.mkfifo(tmp_path / "pipe.yaml")
    code, output = _import(str(tmp_path / "pipe.yaml"))  # no writer: it must not wait
    assert code == 1 and "not a regular file" in output, output
    code, output = _import("/dev/zero")
    assert code == 1 and "not a regular file" in output, output
    (tmp_path / "big.sh").write_bytes(b"#" * (2 << 20))
    code, output = _import(str(tmp_path / "big.sh"))
    assert code == 1 and "not a runbook" in output, output

    heredoc = (
        "cat > config.yaml <<'EOF'\n"
        "gcloud ai-platform jobs submit training hidden --region x\n"
        "EOF\n" + SUBMIT.format(config="config.yaml").replace(" --config config.yaml", "")
    )
    (tmp_path / "here.sh").write_text(heredoc)
    code, output = _import(str(tmp_path / "here.sh"))
    assert code == 0 and "hidden" not in output and "name: j" in output, output


def test_a_tensorboard_run_its_spec_cannot_name_is_refused_not_shown_as_another() -> None:
    from reconciler.backends.tensorboard import logdir_spec
    from reconciler.diagnostics import MlapplyError

    assert logdir_spec([("m/j_1", "/h/a:b"), ("m/j_2", "/h/c")]) == "m/j_1:/h/a:b,m/j_2:/h/c"
    with pytest.raises(MlapplyError, match="holds a comma"):
        logdir_spec([("m/j_1", "/home/a,b/outputs/j_1")])


def test_status_says_how_many_hypertune_lines_it_skipped(tmp_path: Path) -> None:
    """Read as the Ray driver reads a running job's folder, shown as status shows it."""
    from reconciler.backends.ray import staging, usage
    from reconciler.render.status import usage_text

    job_dir = str(tmp_path / "j")
    metrics = Path(staging.metric_file(job_dir).replace(staging.TASK, staging.CHIEF))
    metrics.parent.mkdir(parents=True)
    metrics.write_text(GOOD + '\n{"rmse": 1e999}\n[[[[\n')
    figures = usage.figures([job_dir], [job_dir])
    assert figures["reported"] == {"rmse": 2.5, "step": 10.0}
    assert figures["skipped_reports"] == 2
    job = {
        "state": "RUNNING",
        "reported": figures["reported"],
        "cpu_now": 1.0,
        "memory_bytes_now": 2**20,
        "skipped_reports": figures["skipped_reports"],
    }
    assert usage_text(job).endswith("step 10 rmse 2.5 (2 unreadable hypertune line(s) skipped)")


def test_a_log_is_read_for_its_tail_only(tmp_path: Path) -> None:
    import os

    from reconciler.backends import logtext

    log = tmp_path / "chief-0.log"
    with log.open("w") as handle:
        for step in range(400_000):  # about 10 MB of a trainer's lines
            handle.write(f"step {step} loss 0.5\n")
    text = logtext.read_tail(log)
    assert len(text) <= logtext.TAIL_BYTES and text.startswith("step ")
    assert logtext.tail(text, 1) == "step 399999 loss 0.5"
    os.mkfifo(tmp_path / "fifo.log")
    assert logtext.read_tail(tmp_path / "fifo.log") == ""
    assert logtext.read_tail(tmp_path / "none.log") == ""


def test_import_takes_a_scale_tier_in_either_spelling_gcloud_takes(tmp_path: Path) -> None:
    for tier in ("STANDARD_1", "standard-1"):
        (tmp_path / "run.sh").write_text(
            f"gcloud ai-platform jobs submit training j --region r --scale-tier {tier}\n"
        )
        code, output = _import(str(tmp_path / "run.sh"))
        assert code == 0 and "not an ML Engine scale tier" not in output, output
        assert "scaleTier: STANDARD_1" in output
