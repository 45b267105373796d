"""Taxi-fare regression: input functions, preprocessing, the model, training, export.

The classic Cloud ML Engine layout: ``task.py`` parses flags and calls
``train_and_evaluate`` here. Everything the model needs to turn raw features
into a fare lives inside the model (normalisation, one-hot hour and weekday,
bucketised and crossed pickup coordinates, the trip distance), so the
exported SavedModel takes the raw features by name.

Distribution: with workers in TF_CONFIG this trains under
MultiWorkerMirroredStrategy with a custom training loop (``strategy.run``
inside a ``tf.function``, Keras 3 layers and optimizer); Keras 3's
``model.fit`` does not work under that strategy on TF 2.21
(keras-team/keras#20585). Parameter servers are not supported.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import posixpath
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

LABEL = "fare_amount"
NUMERIC = ["pickup_longitude", "pickup_latitude", "dropoff_longitude", "dropoff_latitude",
           "passenger_count"]
CATEGORICAL = {"hour_of_day": 24, "day_of_week": 7}
CSV_COLUMNS = [LABEL, *NUMERIC, *CATEGORICAL]
DEFAULTS = [[0.0]] * (1 + len(NUMERIC)) + [[0]] * len(CATEGORICAL)
SAMPLE_ROWS = 5000


@dataclasses.dataclass
class Config:
    train_data_paths: str
    eval_data_paths: str
    output_dir: str
    train_steps: int = 2000
    batch_size: int = 256
    learning_rate: float = 0.01
    hidden_units: list[int] = dataclasses.field(default_factory=lambda: [64, 32])
    num_buckets: int = 10
    eval_steps: int = 0
    metric_tag: str = "rmse"
    seed: int = 0


# Input -------------------------------------------------------------------------------


def _files(paths: str) -> list[str]:
    """Files matching comma-separated paths or globs, local or gs:// (through tf.io)."""
    found: list[str] = []
    for pattern in paths.split(","):
        if pattern.strip():
            found.extend(tf.io.gfile.glob(pattern.strip()))
    if not found:
        raise SystemExit(f"no data files match {paths!r}")
    return sorted(found)


def _parse(lines: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
    columns = tf.io.decode_csv(lines, record_defaults=DEFAULTS)
    values = dict(zip(CSV_COLUMNS, columns, strict=True))
    label = tf.reshape(values.pop(LABEL), [-1, 1])
    return {name: tf.reshape(value, [-1, 1]) for name, value in values.items()}, label


def read_dataset(paths: str, batch_size: int, *, training: bool, seed: int = 0,
                 shards: int = 1, shard: int = 0) -> tf.data.Dataset:
    """Batches of (features by name, fare) from CSV files with a header row."""
    lines = tf.data.Dataset.from_tensor_slices(_files(paths)).flat_map(
        lambda name: tf.data.TextLineDataset(name).skip(1)
    )
    if shards > 1:
        lines = lines.shard(shards, shard)
    if training:
        lines = lines.shuffle(10_000, seed=seed).repeat()
    return lines.batch(batch_size).map(_parse).prefetch(tf.data.AUTOTUNE)


def _sample(paths: str) -> dict[str, np.ndarray]:
    """The first rows of the training data, to fit the preprocessing statistics."""
    columns: dict[str, list[np.ndarray]] = {name: [] for name in CSV_COLUMNS}
    rows = 0
    for features, label in read_dataset(paths, 1000, training=False):
        columns[LABEL].append(label.numpy()[:, 0])
        for name in CSV_COLUMNS[1:]:
            columns[name].append(features[name].numpy()[:, 0])
        rows += int(label.shape[0])
        if rows >= SAMPLE_ROWS:
            break
    return {name: np.concatenate(parts).astype("float64") for name, parts in columns.items()}


# Model -------------------------------------------------------------------------------


def _distance(inputs: dict[str, keras.KerasTensor]) -> keras.KerasTensor:
    dlon = inputs["dropoff_longitude"] - inputs["pickup_longitude"]
    dlat = inputs["dropoff_latitude"] - inputs["pickup_latitude"]
    return keras.ops.sqrt(dlon * dlon + dlat * dlat + 1e-12)


def build_model(config: Config, sample: dict[str, np.ndarray]) -> keras.Model:
    inputs = {name: keras.Input(shape=(1,), name=name, dtype="float32") for name in NUMERIC}
    inputs.update({name: keras.Input(shape=(1,), name=name, dtype="int32") for name in CATEGORICAL})

    parts = []
    for name in NUMERIC:
        values = sample[name]
        parts.append(keras.layers.Normalization(mean=values.mean(), variance=values.var() + 1e-9)(
            inputs[name]))
    dlon = sample["dropoff_longitude"] - sample["pickup_longitude"]
    dlat = sample["dropoff_latitude"] - sample["pickup_latitude"]
    distances = np.sqrt(dlon * dlon + dlat * dlat)
    parts.append(keras.layers.Normalization(mean=distances.mean(), variance=distances.var() + 1e-9)(
        _distance(inputs)))
    for name, size in CATEGORICAL.items():
        clipped = keras.ops.clip(inputs[name], 0, size - 1)
        parts.append(keras.layers.CategoryEncoding(num_tokens=size, output_mode="one_hot")(clipped))
    buckets = []
    for name in ("pickup_longitude", "pickup_latitude"):
        edges = np.linspace(sample[name].min(), sample[name].max(), config.num_buckets + 1)[1:-1]
        buckets.append(keras.layers.Discretization(bin_boundaries=list(edges))(inputs[name]))
    crossed = keras.layers.HashedCrossing(num_bins=config.num_buckets ** 2, output_mode="one_hot")(
        tuple(buckets))
    parts.append(crossed)

    x = keras.layers.Concatenate()([keras.ops.cast(p, "float32") for p in parts])
    for units in config.hidden_units:
        x = keras.layers.Dense(units, activation="relu")(x)
    fare = keras.layers.Dense(1, name="fare")(x)
    return keras.Model(inputs=inputs, outputs=fare)


# Cluster -----------------------------------------------------------------------------


@dataclasses.dataclass
class Cluster:
    strategy: tf.distribute.Strategy
    is_chief: bool
    task_type: str
    task_index: int
    trial: str | None
    workers: int


def cluster_from_tf_config() -> Cluster:
    """The strategy and role TF_CONFIG describes (as the cloud and mlapply set it)."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    cluster = config.get("cluster", {})
    task = config.get("task", {})
    trial = str(task["trial"]) if task.get("trial") not in (None, "") else None
    if cluster.get("ps"):
        raise SystemExit(
            "this trainer does not support parameter servers: run it on BASIC, or on a "
            "CUSTOM tier with a chief and workers only"
        )
    task_type, index = task.get("type", "chief"), int(task.get("index", 0))
    if task_type == "evaluator":
        raise SystemExit("this trainer evaluates on the chief; it needs no evaluator task")
    workers = len(cluster.get("chief", [])) + len(cluster.get("master", [])) + len(
        cluster.get("worker", []))
    if workers > 1:
        strategy: tf.distribute.Strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        strategy = tf.distribute.get_strategy()
    has_chief = bool(cluster.get("chief") or cluster.get("master"))
    is_chief = task_type in ("chief", "master") or (not has_chief and task_type == "worker"
                                                     and index == 0)
    return Cluster(strategy, is_chief, task_type, index, trial, max(workers, 1))


# Training ----------------------------------------------------------------------------


def _evaluate(model: keras.Model, config: Config, baseline: float) -> dict[str, float]:
    squared = baseline_squared = 0.0
    count = 0
    for step, (features, label) in enumerate(read_dataset(config.eval_data_paths, 1024,
                                                          training=False)):
        if config.eval_steps and step >= config.eval_steps:
            break
        error = model(features, training=False).numpy() - label.numpy()
        squared += float(np.sum(error ** 2))
        baseline_squared += float(np.sum((label.numpy() - baseline) ** 2))
        count += int(label.shape[0])
    return {"rmse": (squared / count) ** 0.5, "baseline_rmse": (baseline_squared / count) ** 0.5,
            "eval_examples": count}


def _serving_module(model: keras.Model) -> tf.Module:
    """A module whose signature takes raw features by name, one value per instance."""
    module = tf.Module()
    module.model = model
    specs = {name: tf.TensorSpec([None], tf.float32, name=name) for name in NUMERIC}
    specs.update({name: tf.TensorSpec([None], tf.int32, name=name) for name in CATEGORICAL})

    @tf.function(input_signature=[specs])
    def serve(features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        batch = {name: tf.reshape(value, [-1, 1]) for name, value in features.items()}
        return {"predicted_fare": tf.reshape(module.model(batch, training=False), [-1])}

    module.serve = serve
    return module


def export(model: keras.Model, directory: str) -> str:
    module = _serving_module(model)
    tf.saved_model.save(module, directory, signatures={"serving_default": module.serve})
    return directory


def train_and_evaluate(config: Config) -> dict[str, float]:
    cluster = cluster_from_tf_config()
    output_dir = config.output_dir
    if cluster.trial:
        output_dir = os.path.join(output_dir, cluster.trial)
    # On Vertex AI the service says where the model goes: AIP_MODEL_DIR, the job's
    # <base>/model/ or each tuning trial's <base>/<trial>/model/ (it passes no
    # per-trial flag, and no TF_CONFIG to a single replica). Metrics go beside it.
    model_dir = os.environ.get("AIP_MODEL_DIR")
    if model_dir:
        output_dir = posixpath.dirname(model_dir.rstrip("/"))
    keras.utils.set_random_seed(config.seed)
    sample = _sample(config.train_data_paths)
    strategy = cluster.strategy

    with strategy.scope():
        model = build_model(config, sample)
        optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)

    # Every replica takes an equal share of each global batch.
    replicas = strategy.num_replicas_in_sync
    batch_size = -(-config.batch_size // replicas) * replicas
    if batch_size != config.batch_size and cluster.is_chief:
        print(f"batch_size {config.batch_size} rounded up to {batch_size}, a multiple of the "
              f"{replicas} replicas", flush=True)

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        return read_dataset(config.train_data_paths,
                            context.get_per_replica_batch_size(batch_size),
                            training=True, seed=config.seed,
                            shards=context.num_input_pipelines, shard=context.input_pipeline_id)

    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))

    @tf.function
    def train_step(iterator: tf.distribute.DistributedIterator) -> tf.Tensor:
        def step(batch: tuple[dict[str, tf.Tensor], tf.Tensor]) -> tf.Tensor:
            features, label = batch
            with tf.GradientTape() as tape:
                per_example = tf.square(model(features, training=True) - label)[:, 0]
                loss = tf.nn.compute_average_loss(per_example,
                                                  global_batch_size=batch_size)
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
            return loss

        losses = strategy.run(step, args=(next(iterator),))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)

    summaries = _summary_writer(output_dir, cluster.is_chief)
    started = time.time()
    for step in range(1, config.train_steps + 1):
        loss = train_step(iterator)
        if cluster.is_chief and (step % 100 == 0 or step == config.train_steps):
            print(f"step {step}: loss {float(loss):.4f}", flush=True)
            with summaries.as_default(step=step):
                tf.summary.scalar("loss", loss)

    # Under MultiWorkerMirroredStrategy every worker takes part in saving; only
    # the chief's copy is kept.
    target = model_dir or os.path.join(output_dir, "export", str(int(time.time())))
    if not cluster.is_chief:
        target = tempfile.mkdtemp(prefix=f"worker-{cluster.task_index}-")
    export(model, target)
    metrics = _evaluate(model, config, baseline=float(sample[LABEL].mean()))
    metrics.update({"train_steps": config.train_steps, "train_seconds": time.time() - started,
                    "workers": cluster.workers})
    with summaries.as_default(step=config.train_steps):
        for key in ("rmse", "baseline_rmse"):
            tf.summary.scalar(f"eval/{key}", metrics[key])
    summaries.close()
    if cluster.is_chief:
        tf.io.gfile.makedirs(output_dir)
        with tf.io.gfile.GFile(os.path.join(output_dir, "metrics.json"), "w") as handle:
            handle.write(json.dumps(metrics, indent=2))
        _report_to_hypertune(config.metric_tag, metrics["rmse"], config.train_steps)
        print(f"exported {target}; eval rmse {metrics['rmse']:.3f} "
              f"(constant baseline {metrics['baseline_rmse']:.3f})", flush=True)
    return metrics


def _summary_writer(output_dir: str, is_chief: bool) -> tf.summary.SummaryWriter:
    """TensorBoard summaries (the loss as it trains, the eval metrics at the end), from
    the chief only: to AIP_TENSORBOARD_LOG_DIR on Vertex AI, else OUTPUT_DIR/tensorboard."""
    if not is_chief:
        return tf.summary.create_noop_writer()
    if importlib.util.find_spec("tensorboard") is None:  # tf.summary needs it to write
        print("tensorboard is not installed: no summaries", flush=True)
        return tf.summary.create_noop_writer()
    logdir = os.environ.get("AIP_TENSORBOARD_LOG_DIR") or os.path.join(output_dir, "tensorboard")
    return tf.summary.create_file_writer(logdir)


def _report_to_hypertune(tag: str, value: float, step: int) -> None:
    try:
        import hypertune  # cloudml-hypertune, in the cloud runtimes and mlapply's
    except ImportError:
        return
    hypertune.HyperTune().report_hyperparameter_tuning_metric(
        hyperparameter_metric_tag=tag, metric_value=value, global_step=step)
