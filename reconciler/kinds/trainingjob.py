"""The TrainingJob kind: a trainer run on data with hyperparameters, on a scale tier.

Build checks the tier against its machines, the tuning spec the APIs would
reject, hyperparameters that clash with the trainer's own flags, and what the
backend's profile cannot do (run this runtime, tune, give these machines, run
this image, or run it much longer: its end of availability). Identity compiles the
job once (:class:`~reconciler.backends.compiled.CompiledJob`) and hashes it
with the trainer's and the data's fingerprints.

Plan rules (DESIGN.md, Plan): a job of the current identity that is queued
or running is waited for, one that succeeded is up to date, one that failed
is resubmitted only within retry.maxAttempts or with --retrain; a job of an
older identity still running is cancelled first (delete-before-create: the
new one needs the machines). Jobs no manifest declares are cancelled while
they run; finished ones are history.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reconciler.backends import facets, registry
from reconciler.backends.profile import TrainingCheck, today
from reconciler.kinds.base import ApplyContext, IdentityContext, LiveHandler, StepFailed
from reconciler.lazy import LazyModule
from reconciler.stack.build import BuildContext, Reference, parse_duration, training_image
from reconciler.stack.resources import (
    DEFAULT_TIMEOUT_SECONDS,
    Accelerator,
    Dataset,
    MachineGroup,
    Machines,
    Meta,
    Trainer,
    TrainingJob,
    Tuning,
    TuningParameter,
    address,
)

if TYPE_CHECKING:
    import reconciler.backends.base as records
    import reconciler.backends.compiled as compiled_jobs
    import reconciler.identity.desired as desired_state
    import reconciler.plan.fields as field_diffs
    import reconciler.plan.model as plans
    from reconciler.backends.base import LiveJob
    from reconciler.backends.compiled import CompiledJob, Pool
    from reconciler.identity import canonical, content
    from reconciler.identity.content import Fingerprint
    from reconciler.identity.desired import DesiredResource
    from reconciler.manifests import LoadedDocument
    from reconciler.plan import phrases
    from reconciler.plan.diff import PlanView
    from reconciler.plan.model import (
        Action,
        Change,
        FieldChange,
        Reason,
    )
else:
    canonical = LazyModule("reconciler.identity.canonical")
    compiled_jobs = LazyModule("reconciler.backends.compiled")
    content = LazyModule("reconciler.identity.content")
    desired_state = LazyModule("reconciler.identity.desired")
    field_diffs = LazyModule("reconciler.plan.fields")
    phrases = LazyModule("reconciler.plan.phrases")
    plans = LazyModule("reconciler.plan.model")
    records = LazyModule("reconciler.backends.base")

PROGRESS_SECONDS = 2.0  # the command line decides what to show (live or plain)
DEFAULT_MAX_RESUBMITS = 3
# What the runner (and the cloud) set for every task, which spec.env may not override.
RESERVED_ENV = frozenset({"TF_CONFIG", "CLUSTER_SPEC"})
RESERVED_ENV_PREFIXES = ("CLOUD_ML_", "AIP_")


def job_live_name(name: str, hash_: str, attempt: int = 1) -> str:
    base = f"{desired_state.id_name(name)}_{hash_}"
    return base if attempt <= 1 else f"{base}_{attempt}"


def compiled_job(want: DesiredResource) -> CompiledJob:
    compiled = want.compiled
    assert isinstance(compiled, compiled_jobs.CompiledJob), f"{want.address} has no compiled job"
    return compiled


class TrainingJobHandler(LiveHandler):
    record = TrainingJob
    updatable = frozenset({"labels"})
    retrainable = True

    # Build ---------------------------------------------------------------------------

    def build(self, ctx: BuildContext, loaded: LoadedDocument, meta: Meta) -> TrainingJob:
        settings = ctx.stack_settings()
        profile = registry.profile(settings.backend)
        doc = loaded.doc
        spec = doc.data["spec"]
        tier = spec.get("scaleTier", settings.scale_tier)
        machines = None
        if "machines" in spec:
            machines = _machines(spec["machines"])
            if tier != "CUSTOM":
                ctx.report(
                    "spec.machines is only allowed with scaleTier CUSTOM "
                    f"(this job's tier is {tier})",
                    doc.key_at(("spec", "machines")),
                    "set scaleTier: CUSTOM, or remove spec.machines",
                )
        elif tier == "CUSTOM":
            ctx.report(
                "scaleTier CUSTOM needs spec.machines",
                doc.at(("spec", "scaleTier")) if "scaleTier" in spec else doc.at(("spec",)),
                "add spec.machines with at least master: {type: n1-standard-4}",
            )
        tuning = None
        if "hyperparameterTuning" in spec:
            tuning = _tuning(
                ctx, loaded, spec["hyperparameterTuning"], spec.get("hyperparameters", {})
            )
            if not registry.provides(settings.backend, facets.Facet.STUDIES):
                refused = registry.refusal(settings.backend, facets.Facet.STUDIES)
                ctx.report(
                    f"backend {settings.backend} cannot run {facets.Facet.STUDIES.title}: "
                    f"{refused.message}",
                    doc.key_at(("spec", "hyperparameterTuning")),
                    refused.hint,
                )
        runtime = spec.get("runtimeVersion", settings.runtime_version)
        python = spec.get("pythonVersion", settings.python_version)
        problem = profile.training_problem(runtime, python)
        if problem:
            ctx.report(
                problem,
                doc.at(("spec", "runtimeVersion" if "runtimeVersion" in spec else "pythonVersion")),
                profile.training_hint or None,
            )
        env = dict(spec.get("env", {}))
        for variable in env:
            if variable in RESERVED_ENV or variable.startswith(RESERVED_ENV_PREFIXES):
                ctx.report(
                    f"spec.env cannot set {variable}: mlapply sets it for every task",
                    doc.key_at(("spec", "env", variable)),
                    "rename the variable; the cluster, trial and output locations come "
                    "from TF_CONFIG, CLOUD_ML_* and AIP_* as on the cloud",
                )
        timeout = parse_duration(spec["timeout"]) if "timeout" in spec else DEFAULT_TIMEOUT_SECONDS
        if timeout <= 0:
            ctx.report("spec.timeout must be longer than 0s", doc.at(("spec", "timeout")))
        return TrainingJob(
            meta=meta,
            trainer=spec["trainer"],
            dataset=spec.get("dataset"),
            hyperparameters=dict(spec.get("hyperparameters", {})),
            args=tuple(spec.get("args", ())),
            scale_tier=tier,
            machines=machines,
            region=spec.get("region", settings.region),
            runtime_version=runtime,
            python_version=python,
            output_dir=spec.get("outputDir"),
            tuning=tuning,
            max_attempts=spec.get("retry", {}).get("maxAttempts", 1),
            max_resubmits=spec.get("retry", {}).get("maxResubmits", DEFAULT_MAX_RESUBMITS),
            timeout_seconds=timeout,
            env=env,
            image=training_image(ctx, loaded, spec),
        )

    def references(self, resource: Any) -> Iterable[Reference]:
        job: TrainingJob = resource
        yield Reference(("spec", "trainer"), Trainer.kind, job.trainer)
        if job.dataset:
            yield Reference(("spec", "dataset"), Dataset.kind, job.dataset)

    def check(self, ctx: BuildContext) -> None:
        """Hyperparameters may not repeat a flag mlapply passes itself, and a job's
        cluster may not need a role its trainer says it cannot run, nor machines or an
        image the backend does not offer."""
        trainers: Mapping[str, Trainer] = ctx.built[Trainer.kind]
        settings = ctx.stack_settings()
        compile_pools = registry.profile(settings.backend).compile_pools
        for name, job in ctx.built[TrainingJob.kind].items():
            trainer = trainers.get(job.trainer)
            if trainer is None:
                continue
            pools = compile_pools(job.scale_tier, job.machines, settings.backend_settings)
            self._check_roles(ctx, name, job, trainer, pools)
            self._check_machines(ctx, name, job, trainer, pools)
            taken = {f.lstrip("-") for f in trainer.flags if f}
            tuned = [p.name for p in job.tuning.params] if job.tuning else []
            for hyper in [*job.hyperparameters, *tuned]:
                if hyper in taken:
                    ctx.report(
                        f'hyperparameter "{hyper}" repeats a flag mlapply already passes '
                        f'(the trainer "{trainer.meta.name}" takes it for its inputs)',
                        ctx.documents[TrainingJob.kind][name].doc.key_at(
                            ("spec", "hyperparameters", hyper)
                        ),
                        "mlapply sets the data, output and job-dir flags itself: rename the "
                        "hyperparameter or change spec.flags in the Trainer",
                    )

    def _check_machines(
        self,
        ctx: BuildContext,
        name: str,
        job: TrainingJob,
        trainer: Trainer,
        pools: Sequence[Pool],
    ) -> None:
        """The machines and the image the job would get, against the backend's
        catalogue (validate tells before anything is submitted)."""
        settings = ctx.stack_settings()
        profile = registry.profile(settings.backend)
        doc = ctx.documents[TrainingJob.kind][name].doc
        spec = doc.data["spec"]
        for pool in pools:
            problem = profile.machine_problem(pool)
            if problem:
                role = pool.role.manifest_name
                where = (
                    doc.at(("spec", "machines", role, "type"))
                    if job.machines is not None
                    else doc.at(("spec", "scaleTier"))
                    if "scaleTier" in spec
                    else doc.at(("spec",))
                )
                ctx.report(
                    problem, where, "choose a machine type and accelerator the backend offers"
                )
        if not profile.runs_images:
            if trainer.source is None and not trainer.package_uris:
                ctx.report(
                    f'the trainer "{trainer.meta.name}" is only an image (spec.container), '
                    f"and backend {settings.backend} runs a trainer's package",
                    doc.at(("spec", "trainer")),
                    "give the Trainer spec.source (its package directory) too",
                )
            return
        image = job.image or trainer.image
        verdict = profile.training_check(
            TrainingCheck(job.runtime_version, job.python_version, pools, image, today())
        )
        if verdict is None:
            return
        if job.image is not None:
            key = "container" if job.image.container else "executorImage"
            where = doc.at(("spec", key))
        elif trainer.image is not None:
            trainer_doc = ctx.documents[Trainer.kind][trainer.meta.name].doc
            key = "container" if trainer.image.container else "executorImage"
            where = trainer_doc.at(("spec", key))
        else:
            named = next((k for k in ("runtimeVersion", "pythonVersion") if k in spec), None)
            where = doc.at(("spec", named)) if named else doc.key_at(("spec",))
        (ctx.report if verdict.error else ctx.warn)(verdict.message, where, verdict.hint)

    def _check_roles(
        self,
        ctx: BuildContext,
        name: str,
        job: TrainingJob,
        trainer: Trainer,
        pools: Sequence[Pool],
    ) -> None:
        if trainer.roles is None:
            return
        refused = [p for p in pools if p.role.manifest_name not in trainer.roles]
        if not refused:
            return
        doc = ctx.documents[TrainingJob.kind][name].doc
        spec = doc.data["spec"]
        what = ", ".join(p.describe() for p in refused)
        ctx.report(
            f'the trainer "{trainer.meta.name}" runs only as {", ".join(sorted(trainer.roles))} '
            f"(its spec.roles), but scale tier {job.scale_tier} needs {what} here",
            doc.at(("spec", "scaleTier")) if "scaleTier" in spec else doc.at(("spec",)),
            "use a tier of those roles (BASIC, or CUSTOM with machines of those roles), "
            "or a trainer that runs them",
        )

    # Identity ------------------------------------------------------------------------

    def identify(self, resource: Any, ctx: IdentityContext) -> DesiredResource:
        job: TrainingJob = resource
        stack = ctx.stack
        trainer = stack.trainers[job.trainer]
        dataset = stack.datasets.get(job.dataset) if job.dataset else None
        source: Fingerprint | None = ctx.facts.get(trainer.address)
        prints: Mapping[str, Fingerprint] = ctx.facts.get(dataset.address, {}) if dataset else {}
        compiled = compiled_jobs.CompiledJob(
            name=job.meta.name,
            trainer=trainer.meta.name,
            module=trainer.module,
            source=trainer.source,
            source_excluded=source.excluded if source else frozenset(),
            package_uris=trainer.package_uris,
            flags=trainer.flags,
            inputs=(
                compiled_jobs.Inputs(
                    dataset.meta.name, dataset.train, dataset.eval, dataset.base_dir
                )
                if dataset
                else None
            ),
            hyperparameters=job.hyperparameters,
            args=job.args,
            scale_tier=job.scale_tier,
            pools=ctx.pools(job.scale_tier, job.machines),
            region=job.region,
            runtime_version=job.runtime_version,
            python_version=job.python_version,
            timeout_seconds=job.timeout_seconds,
            tuning=job.tuning,
            env=job.env,
            layout=compiled_jobs.OutputLayout(job.output_dir or compiled_jobs.DEFAULT_OUTPUT),
            image=job.image or trainer.image,
        )
        essence = _essence(job, compiled, source, prints)
        hash_ = canonical.short(canonical.digest(essence))
        return desired_state.DesiredResource(
            address=job.address,
            kind=TrainingJob.kind,
            name=job.meta.name,
            live_name=job_live_name(job.meta.name, hash_),
            hash=hash_,
            essence=essence,
            mutable={"labels": dict(job.meta.labels)},
            details={
                # Shared, not copied: every job of a trainer has the same file list.
                "trainer_files": source.files if source else {},
                "data_files": {side: p.files for side, p in prints.items()},
            },
            prevent_destroy=job.meta.prevent_destroy,
            compiled=compiled,
        )

    # Plan ----------------------------------------------------------------------------

    def plan(self, want: DesiredResource, view: PlanView) -> Change:
        runs = live_jobs(view).get(want.name, [])
        current = [j for j in runs if j.hash == want.hash]
        stale = [j for j in runs if j.hash != want.hash and _unfinished(j)]
        older = [j for j in runs if j.hash != want.hash]
        after = {**want.essence, **want.mutable}
        retrain = want.name in view.options.retrain
        reasons: list[Reason] = []
        latest = current[-1] if current else None
        live_name = latest.name if latest else want.live_name
        before: Mapping[str, Any] | None = None
        fields: list[FieldChange] = []
        action = plans.Action.NOOP
        now = view.options.now

        if latest is not None and _unfinished(latest):
            action = plans.Action.WAIT
            reasons.append(
                plans.Reason(
                    plans.ReasonCode.RUNNING,
                    f"{latest.name} is {phrases.state_phrase(latest, now)}",
                )
            )
        elif latest is not None and latest.state is records.JobState.SUCCEEDED and not retrain:
            # Same hash, same essence: no need to decode the live record's spec.
            before = {**want.essence, "labels": field_diffs.user_labels(latest.labels)}
            action, fields, reasons = self._labels(want, latest, view)
        elif latest is not None:
            attempts = len(current)
            if latest.state is records.JobState.SUCCEEDED:
                text = f"--retrain {want.name}: {latest.name} succeeded; training again"
                reasons.append(plans.Reason(plans.ReasonCode.RETRAIN, text))
                action = plans.Action.CREATE
            else:
                action, why = self._after_failure(want, current, view)
                reasons.append(why)
            if action is plans.Action.CREATE:
                live_name = job_live_name(want.name, want.hash, attempts + 1)
        else:
            action = plans.Action.CREATE
            if older:
                previous = older[-1]
                before = _spec_view(previous)
                fields = field_diffs.field_changes(before, after, self.updatable)
                reasons.extend(_identity_reasons(previous, want))
            else:
                text = (
                    f"new job on {want.essence['scaleTier']}: {compiled_job(want).describe_pools()}"
                )
                reasons.append(plans.Reason(plans.ReasonCode.NEW, text))

        if action is plans.Action.CREATE:
            reasons.extend(_runtime_reasons(want, view))
            job = compiled_job(want)
            if job.tuning is not None:
                profile = registry.profile(view.stack.settings.backend)
                text = tuning_phrase(
                    job.tuning, profile.search_phrases, profile.trial_slots(job.pools)
                )
                reasons.append(plans.Reason(plans.ReasonCode.TUNING, text))
            _check_data(want, view)
        targets = tuple(plans.LiveTarget(j.name, "cancel") for j in stale)
        if stale:
            reasons.extend(
                plans.Reason(
                    plans.ReasonCode.CANCELS_OLDER,
                    f"running job {j.name} (an older identity) will be cancelled",
                )
                for j in stale
            )
            if action is plans.Action.CREATE:
                action = plans.Action.REPLACE
            elif action in (plans.Action.NOOP, plans.Action.WAIT):
                action = plans.Action.CANCEL
            view.protect(want, action, targets)
        return view.change(
            want,
            action,
            live_name=live_name,
            before=before,
            after=after,
            fields=fields,
            reasons=reasons,
            targets=targets,
            replace_order=plans.ReplaceOrder.DELETE_BEFORE_CREATE,
        )

    def _after_failure(
        self, want: DesiredResource, current: list[LiveJob], view: PlanView
    ) -> tuple[Action, Reason]:
        """Resubmit a failed job within its bound, or block it with the way forward.

        The trainer's own failures count against ``retry.maxAttempts``; a job lost to
        the machinery (its supervisor gone) against ``retry.maxResubmits``, without
        --retrain: it is not the trainer's fault."""
        latest, job = current[-1], view.stack.jobs[want.name]
        what = phrases.failure(latest)
        if want.name in view.options.retrain:
            return plans.Action.CREATE, plans.Reason(
                plans.ReasonCode.RETRAIN, f"{what}; --retrain {want.name}"
            )
        if latest.lost:
            count, allowed = sum(j.lost for j in current), job.max_resubmits
            if count < allowed:
                why = (latest.error or "its supervisor is gone").strip().splitlines()[0]
                text = (
                    f"{latest.name} was lost to the machinery ({why.rstrip(':')}); "
                    f"resubmitting, attempt {count + 1} of {allowed}"
                )
                return plans.Action.CREATE, plans.Reason(plans.ReasonCode.RETRY, text)
            text = (
                f"{what} ({count} of {allowed} attempts lost); not resubmitted: "
                f"use --retrain {want.name} or raise spec.retry.maxResubmits"
            )
            return plans.Action.BLOCKED, plans.Reason(plans.ReasonCode.NOT_RETRIED, text)
        count, allowed = sum(not j.lost for j in current), job.max_attempts
        if count < allowed:
            text = f"{what}; attempt {count + 1} of {allowed}"
            return plans.Action.CREATE, plans.Reason(plans.ReasonCode.RETRY, text)
        text = (
            f"{what} (attempt {count} of {allowed}); not retried: "
            f"use --retrain {want.name} or raise spec.retry.maxAttempts"
        )
        return plans.Action.BLOCKED, plans.Reason(plans.ReasonCode.NOT_RETRIED, text)

    def _labels(
        self, want: DesiredResource, job: LiveJob, view: PlanView
    ) -> tuple[Action, list[FieldChange], list[Reason]]:
        if dict(job.labels) == want.live_labels(view.stack.name):
            return plans.Action.NOOP, [], []
        fields = field_diffs.field_changes(
            {"labels": field_diffs.user_labels(job.labels)},
            {"labels": want.mutable["labels"]},
            self.updatable,
        )
        recorded = (job.spec or {}).get("mutable", {}).get("labels")
        if recorded is not None and recorded != field_diffs.user_labels(job.labels):
            code, prefix = plans.ReasonCode.CHANGED_OUTSIDE, "changed outside mlapply: "
        else:
            code, prefix = plans.ReasonCode.FIELD_CHANGED, ""
        return (
            plans.Action.UPDATE,
            fields,
            [plans.Reason(code, prefix + field_diffs.describe(f)) for f in fields],
        )

    def removed(self, view: PlanView) -> list[Change]:
        declared = set(view.stack.jobs)
        changes: list[Change] = []
        jobs = live_jobs(view)
        for name in sorted(set(jobs) - declared):
            running = [j for j in jobs[name] if j.state.active]
            if not running:
                continue  # finished jobs are history
            where = address(self.prefix, name)
            view.protect_live(where, running, verb="cancelled")
            changes.append(
                plans.Change(
                    where,
                    self.kind,
                    plans.Action.CANCEL,
                    name,
                    running[-1].name,
                    reasons=tuple(
                        plans.Reason(
                            plans.ReasonCode.REMOVED,
                            f"{j.name} is {phrases.state_phrase(j, view.options.now)}; "
                            "its manifest was removed",
                        )
                        for j in running
                    ),
                    live_targets=tuple(plans.LiveTarget(j.name, "cancel") for j in running),
                )
            )
        return changes

    # Apply ---------------------------------------------------------------------------

    def apply(self, change: Change, ctx: ApplyContext) -> str:
        jobs = registry.facet(ctx.backend, facets.Jobs)
        for target in change.live_targets:
            jobs.cancel_job(target.live_name)
        want = ctx.desired.get(change.address)
        if change.action is plans.Action.CANCEL or want is None:
            for target in change.live_targets:
                wait_for_job(ctx, change.address, target.live_name, quiet=True)
            return "cancelled " + ", ".join(t.live_name for t in change.live_targets)
        assert change.live_name is not None
        record = records.LiveJob(
            change.live_name,
            want.live_labels(ctx.stack.name),
            records.JobState.QUEUED,
            spec=want.record(),
        )
        if change.action is plans.Action.UPDATE:
            jobs.relabel_job(record)
            return "labels updated"
        if change.action in (plans.Action.CREATE, plans.Action.REPLACE):
            submission = records.JobSubmission(record, compiled_job(want))
            if submission.job.tuning is not None:
                registry.facet(ctx.backend, facets.Studies).submit_study(submission)
            else:
                jobs.submit_job(submission)
            if not ctx.wait_for_jobs:
                return f"submitted {change.live_name}"
        job = wait_for_job(ctx, change.address, change.live_name)
        if job.state is not records.JobState.SUCCEEDED:
            raise StepFailed(
                f"{change.live_name} {job.state.value.lower()}: {job.error or ''}".strip(": ")
            )
        return f"{change.live_name} succeeded"


def _check_data(want: DesiredResource, view: PlanView) -> None:
    """A job about to train on local data that matches no files would fail when it
    starts: a plan error now (validate only warns: the data may come later)."""
    inputs = compiled_job(want).inputs
    if inputs is None:
        return
    files: Mapping[str, Any] = want.details.get("data_files", {})
    for side, patterns in (("train", inputs.train), ("eval", inputs.eval)):
        fingerprint = want.essence["data"].get(side, {}).get("fingerprint")
        local = [p for p in patterns if not p.startswith("gs://")]
        if (
            fingerprint == "content"
            and local
            and len(local) == len(patterns)
            and not files.get(side)
        ):
            view.errors.append(
                plans.PlanError(
                    f"{want.address} would train on Dataset {inputs.dataset}'s {side} data, but "
                    f"{', '.join(local)} match no files (relative to {inputs.base_dir}): add "
                    "the files or fix the pattern",
                    want.address,
                )
            )


def _runtime_reasons(want: DesiredResource, view: PlanView) -> list[Reason]:
    """What a job that will train runs on, and whether its environment is built first."""
    job = compiled_job(want)
    profile = registry.profile(view.stack.settings.backend)
    image = profile.describe_image(job)
    if image is not None:
        return [plans.Reason(plans.ReasonCode.RUNTIME, image)]
    note = profile.describe_runtime(job.runtime_version, job.python_version)
    if note is None:
        return []
    text = note.text if note.mapped else f"runs on {note.text}"
    if note.environment and note.environment not in view.live.environments:
        text += f"; its runtime environment is built first ({note.size})"
    return [plans.Reason(plans.ReasonCode.RUNTIME, text)]


_SCALE_PHRASES = {"UNIT_LOG_SCALE": "log ", "UNIT_REVERSE_LOG_SCALE": "reverse log "}


def tuning_phrase(tuning: Tuning, searches: Mapping[str, str], slots: int) -> str:
    """``tuning job: 12 trials, 2 in parallel, maximize auc over learning_rate (log
    0.0001..0.1), hidden_units {64,128}; random search``. ``searches``: how the
    backend names its algorithms and early stopping; ``slots``: how many trials it
    runs at once (a larger maxParallelTrials is lowered to it)."""
    params = []
    for param in tuning.params:
        if param.type in ("CATEGORICAL", "DISCRETE"):
            params.append(f"{param.name} {{{','.join(str(v) for v in param.values)}}}")
        else:
            scale = _SCALE_PHRASES.get(param.scale or "", "")
            low, high = (f"{v:g}" if v is not None else "?" for v in (param.min, param.max))
            params.append(f"{param.name} ({scale}{low}..{high})")
    parallel = f"{tuning.max_parallel_trials} in parallel"
    if slots < tuning.max_parallel_trials:
        parallel = (
            f"{slots} in parallel (maxParallelTrials {tuning.max_parallel_trials} lowered: "
            f"this machine runs {slots} at once)"
        )
    text = (
        f"tuning job: {tuning.max_trials} trials, {parallel}, "
        f"{tuning.goal.lower()} {tuning.metric} over {', '.join(params)}; "
        + searches.get(tuning.algorithm, tuning.algorithm.lower())
    )
    if tuning.max_failed_trials:
        text += f", up to {tuning.max_failed_trials} failed trials"
    if tuning.early_stopping:
        text += ", " + searches.get("EARLY_STOPPING", "early stopping")
    return text


def live_jobs(view: PlanView) -> dict[str, list[LiveJob]]:
    """The stack's live jobs by manifest name, oldest first."""
    return view.by_manifest("jobs", view.live.jobs)


def wait_for_job(ctx: ApplyContext, where: str, name: str, *, quiet: bool = False) -> LiveJob:
    """Poll a job at the backend's pace until it has finished."""
    from reconciler.render.status import progress_text  # apply only: validate stays light

    jobs = registry.facet(ctx.backend, facets.Jobs)
    usage = ctx.backend if isinstance(ctx.backend, facets.Usage) else None
    logs = ctx.backend if isinstance(ctx.backend, facets.Logs) else None
    started = time.monotonic()
    last_progress = started
    while True:
        job = jobs.get_job(ctx.stack.name, name)
        if job is None:
            raise StepFailed(f"{name} is not a job of this stack")
        if job.state.finished:
            return job
        if ctx.stop.is_set():
            raise StepFailed(f"{name} is still {job.state.value.lower()}; apply was interrupted")
        now = time.monotonic()
        if not quiet and now - last_progress >= PROGRESS_SECONDS:
            last_progress = now
            figures = usage.job_usage([name]).get(name, {}) if usage else {}
            tail = logs.log_tail(name) if logs else ""
            ctx.progress(where, progress_text(job, figures, now - started, tail))
        time.sleep(ctx.backend.poll_seconds)


def _unfinished(job: LiveJob) -> bool:
    return job.state.active or job.state is records.JobState.CANCELLING


# Identity ------------------------------------------------------------------------------


def _essence(
    job: TrainingJob,
    compiled: CompiledJob,
    source: Fingerprint | None,
    data: Mapping[str, Fingerprint],
) -> dict[str, Any]:
    flags = compiled.flags
    return {
        "trainer": {
            "source": source.digest if source else None,
            "packageUris": list(compiled.package_uris),
            "module": compiled.module,
            "flags": {
                "train": flags.train,
                "eval": flags.eval,
                "output": flags.output,
                "jobDir": flags.job_dir,
            },
        },
        "data": {
            side: {"fingerprint": p.mode, "digest": p.digest, "patterns": list(p.patterns)}
            for side, p in data.items()
        },
        "hyperparameters": dict(job.hyperparameters),
        "args": list(job.args),
        "scaleTier": job.scale_tier,
        "machines": compiled.machines(),
        "region": job.region,
        "runtimeVersion": job.runtime_version,
        "pythonVersion": job.python_version,
        "outputDir": job.output_dir,
        "hyperparameterTuning": _tuning_essence(job.tuning),
        # Only when set, so the identity of a job without them stays what it was.
        **({"env": dict(job.env)} if job.env else {}),
        **({"image": compiled.image.essence()} if compiled.image else {}),
    }


def _tuning_essence(tuning: Tuning | None) -> dict[str, Any] | None:
    if tuning is None:
        return None
    return {
        "goal": tuning.goal,
        "metric": tuning.metric,
        "maxTrials": tuning.max_trials,
        "maxParallelTrials": tuning.max_parallel_trials,
        "maxFailedTrials": tuning.max_failed_trials,
        "algorithm": tuning.algorithm,
        "enableEarlyStopping": tuning.early_stopping,
        "params": [
            {
                "name": p.name,
                "type": p.type,
                "min": p.min,
                "max": p.max,
                "values": list(p.values),
                "scale": p.scale,
            }
            for p in tuning.params
        ],
    }


# Reasons -------------------------------------------------------------------------------


def _spec_view(job: LiveJob) -> dict[str, Any] | None:
    essence = (job.spec or {}).get("essence")
    if not isinstance(essence, Mapping):
        return None
    return {**essence, "labels": field_diffs.user_labels(job.labels)}


def _identity_reasons(previous: LiveJob, want: DesiredResource) -> list[Reason]:
    """Why the newest older job is not this identity: trainer files, data files,
    then each other field."""

    spec = previous.spec or {}
    before = spec.get("essence")
    if not isinstance(before, Mapping):
        text = f"{previous.name} has another identity (its spec was not recorded)"
        return [plans.Reason(plans.ReasonCode.IDENTITY_CHANGED, text)]
    reasons = []
    details = spec.get("details", {})
    if before.get("trainer", {}).get("source") != want.essence["trainer"]["source"]:
        text = _files_reason(
            "trainer source changed",
            details.get("trainer_files"),
            want.details.get("trainer_files"),
            names=True,
        )
        reasons.append(plans.Reason(plans.ReasonCode.TRAINER_CHANGED, text))
    for side in sorted(set(before.get("data", {})) | set(want.essence["data"])):
        old = before.get("data", {}).get(side)
        new = want.essence["data"].get(side)
        if old is None or new is None:
            text = f"{side} data: {_shown(old)} -> {_shown(new)}"
        elif old.get("patterns") != new.get("patterns") or old.get("fingerprint") != new.get(
            "fingerprint"
        ):
            text = f"{side} data: {_shown(old.get('patterns'))} -> {_shown(new.get('patterns'))}"
        elif old.get("digest") != new.get("digest"):
            old_files = details.get("data_files", {}).get(side)
            new_files = want.details.get("data_files", {}).get(side)
            text = _files_reason(f"{side} data changed", old_files, new_files, names=False)
        else:
            continue
        reasons.append(plans.Reason(plans.ReasonCode.DATA_CHANGED, text))
    others = ("trainer", "data")
    texts = field_diffs.value_changes(
        {k: v for k, v in before.items() if k not in others},
        {k: v for k, v in want.essence.items() if k not in others},
    )
    texts += field_diffs.value_changes(
        {"trainer": {k: v for k, v in before.get("trainer", {}).items() if k != "source"}},
        {"trainer": {k: v for k, v in want.essence["trainer"].items() if k != "source"}},
    )
    reasons.extend(plans.Reason(plans.ReasonCode.FIELD_CHANGED, t) for t in texts)
    if not reasons:
        reasons.append(
            plans.Reason(plans.ReasonCode.IDENTITY_CHANGED, f"{previous.name} has another identity")
        )
    return reasons


def _shown(value: Any) -> str:
    return "(none)" if value is None else field_diffs.show(value)


def _files_reason(prefix: str, before: Any, after: Any, *, names: bool) -> str:
    if not isinstance(before, Mapping) or not isinstance(after, Mapping):
        return prefix
    changed = content.file_changes(before, after)
    if names:
        listed = [
            f"{p} ({kind})" for kind in ("modified", "added", "removed") for p in changed[kind]
        ]
        shown = ", ".join(listed[:8]) + (f", and {len(listed) - 8} more" if len(listed) > 8 else "")
        return f"{prefix}: {shown}" if listed else prefix
    counts = [
        f"{len(changed[k])} file{'s' if len(changed[k]) != 1 else ''} {k}"
        for k in ("added", "removed", "modified")
        if changed[k]
    ]
    return f"{prefix}: {', '.join(counts)}" if counts else prefix


# Build ---------------------------------------------------------------------------------


def _tuning(
    ctx: BuildContext, loaded: LoadedDocument, spec: Mapping[str, Any], fixed: Mapping[str, Any]
) -> Tuning:
    doc = loaded.doc
    base = ("spec", "hyperparameterTuning")
    algorithm = spec.get("algorithm", "BAYESIAN")
    params: list[TuningParameter] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(spec["params"]):
        path = (*base, "params", i)
        name, kind = raw["name"], raw["type"]
        if name in seen:
            ctx.report(
                f'tuning parameter "{name}" is declared twice (first at params[{seen[name]}])',
                doc.at((*path, "name")),
                "each tuned parameter appears once",
            )
        seen.setdefault(name, i)
        if name in fixed:
            ctx.report(
                f'"{name}" is both a fixed hyperparameter and a tuned parameter',
                doc.at((*path, "name")),
                f"remove {name} from spec.hyperparameters, or stop tuning it",
            )
        param = TuningParameter(
            name=name,
            type=kind,
            min=raw.get("min"),
            max=raw.get("max"),
            values=tuple(raw.get("values", ())),
            scale=raw.get("scale"),
        )
        _check_parameter(ctx, doc, path, param, algorithm)
        params.append(param)
    trials = spec.get("maxTrials", 1)
    parallel = spec.get("maxParallelTrials", 1)
    if parallel > trials:
        ctx.warn(
            f"maxParallelTrials ({parallel}) is more than maxTrials ({trials})",
            doc.at((*base, "maxParallelTrials")),
            "at most maxTrials trials ever run at once",
        )
    return Tuning(
        metric=spec["metric"],
        params=tuple(params),
        goal=spec.get("goal", "MAXIMIZE"),
        max_trials=trials,
        max_parallel_trials=parallel,
        max_failed_trials=spec.get("maxFailedTrials", 0),
        algorithm=algorithm,
        early_stopping=spec.get("enableEarlyStopping", False),
    )


def _check_parameter(
    ctx: BuildContext, doc: Any, path: tuple[str | int, ...], param: TuningParameter, algorithm: str
) -> None:
    label = f'tuning parameter "{param.name}"'
    if algorithm == "GRID_SEARCH" and param.type == "DOUBLE":
        ctx.report(
            f"{label}: GRID_SEARCH cannot search a DOUBLE range",
            doc.at((*path, "type")),
            "use INTEGER, CATEGORICAL or DISCRETE values, or another algorithm",
        )
    if param.min is not None and param.max is not None:
        if param.min > param.max:
            ctx.report(
                f"{label}: min {param.min} is more than max {param.max}",
                doc.at((*path, "min")),
                "swap them",
            )
        if param.type == "INTEGER" and not (
            float(param.min).is_integer() and float(param.max).is_integer()
        ):
            ctx.report(f"{label}: an INTEGER range needs whole min and max", doc.at((*path, "min")))
    if param.type == "DISCRETE" and param.values:
        numbers = [float(v) for v in param.values]
        if any(b <= a for a, b in itertools.pairwise(numbers)):
            ctx.report(
                f"{label}: DISCRETE values must be strictly increasing",
                doc.at((*path, "values")),
                "sort the values and remove repeats",
            )
    if param.scale in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE"):
        low = param.min if param.type != "DISCRETE" else min(map(float, param.values or [0]))
        if low is not None and low <= 0:
            ctx.report(
                f"{label}: {param.scale} needs a range above 0 (lowest is {low})",
                doc.at((*path, "scale")),
                "use UNIT_LINEAR_SCALE, or a minimum above 0",
            )
    if param.type == "CATEGORICAL" and len(set(param.values)) != len(param.values):
        ctx.report(f"{label}: CATEGORICAL values repeat", doc.at((*path, "values")))


def _machine(spec: Mapping[str, Any], count: int | None = None) -> MachineGroup:
    accel = spec.get("accelerator")
    return MachineGroup(
        type=spec["type"],
        count=count if count is not None else spec["count"],
        accelerator=Accelerator(accel["type"], accel.get("count", 1)) if accel else None,
    )


def _machines(spec: Mapping[str, Any]) -> Machines:
    def group(key: str) -> MachineGroup | None:
        found = spec.get(key)
        return _machine(found) if found and found["count"] > 0 else None

    return Machines(
        master=_machine(spec["master"], count=1),
        worker=group("worker"),
        parameter_server=group("parameterServer"),
        evaluator=group("evaluator"),
    )
