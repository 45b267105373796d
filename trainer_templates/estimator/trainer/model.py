"""Taxi-fare regression with tf.estimator, in the layout of Google's Cloud ML Engine samples.

Input functions read CSV files with tf.data; feature columns do the
preprocessing (bucketised and crossed coordinates, a crossed day and hour,
embeddings); a wide-and-deep canned Estimator trains through
``train_and_evaluate``, which also runs the distributed shapes of the scale
tiers from TF_CONFIG (chief, workers, parameter servers, evaluator); a
``LatestExporter`` exports a SavedModel under
``OUTPUT_DIR/export/exporter/<timestamp>/`` whose serving input takes the
raw features by name.

Needs tf.estimator: TensorFlow 2.15 or older (runtimeVersion "2.15").
"""

import json
import os

import numpy as np
import tensorflow as tf

CSV_COLUMNS = ["fare_amount", "pickup_longitude", "pickup_latitude",
               "dropoff_longitude", "dropoff_latitude", "passenger_count",
               "hour_of_day", "day_of_week"]
LABEL_COLUMN = "fare_amount"
DEFAULTS = [[0.0], [-74.0], [40.0], [-74.0], [40.7], [1.0], [0], [0]]
LONGITUDES, LATITUDES = (-74.05, -73.75), (40.60, 40.90)


KM_PER_DEGREE = (84.3, 111.0)  # longitude and latitude, near New York


def add_engineered(features):
    """Features computed from the raw ones, in training and in serving alike: the
    trip's straight-line length in kilometres (what a fare is mostly made of)."""
    dlon = (features["pickup_longitude"] - features["dropoff_longitude"]) * KM_PER_DEGREE[0]
    dlat = (features["pickup_latitude"] - features["dropoff_latitude"]) * KM_PER_DEGREE[1]
    features["distance_km"] = tf.sqrt(dlon * dlon + dlat * dlat)
    return features


def _centred(low, high):
    """A normalizer_fn: the coordinate box mapped to [-1, 1], so the deep part's
    inputs are not numbers near -74 and 40."""
    middle, half = (low + high) / 2, (high - low) / 2
    return lambda x: (x - middle) / half


def read_dataset(paths, mode, batch_size=512):
    """An input function over comma-separated CSV files or globs (with a header row)."""

    def decode_csv(line):
        columns = tf.io.decode_csv(line, record_defaults=DEFAULTS)
        features = dict(zip(CSV_COLUMNS, columns))
        label = features.pop(LABEL_COLUMN)
        return add_engineered(features), label

    def _input_fn():
        files = []
        for pattern in paths.split(","):
            files.extend(tf.io.gfile.glob(pattern))
        dataset = tf.data.Dataset.from_tensor_slices(sorted(files)).flat_map(
            lambda name: tf.data.TextLineDataset(name).skip(1))
        dataset = dataset.map(decode_csv)
        if mode == tf.estimator.ModeKeys.TRAIN:
            dataset = dataset.shuffle(10 * batch_size).repeat()
        return dataset.batch(batch_size)

    return _input_fn


def feature_columns(nbuckets):
    fc = tf.feature_column
    plon = fc.numeric_column("pickup_longitude", normalizer_fn=_centred(*LONGITUDES))
    plat = fc.numeric_column("pickup_latitude", normalizer_fn=_centred(*LATITUDES))
    dlon = fc.numeric_column("dropoff_longitude", normalizer_fn=_centred(*LONGITUDES))
    dlat = fc.numeric_column("dropoff_latitude", normalizer_fn=_centred(*LATITUDES))
    pcount = fc.numeric_column("passenger_count")
    distance = fc.numeric_column("distance_km")
    hour = fc.categorical_column_with_identity("hour_of_day", 24)
    day = fc.categorical_column_with_identity("day_of_week", 7)

    lonbuckets = np.linspace(*LONGITUDES, nbuckets).tolist()
    latbuckets = np.linspace(*LATITUDES, nbuckets).tolist()
    b_plon, b_dlon = fc.bucketized_column(plon, lonbuckets), fc.bucketized_column(dlon, lonbuckets)
    b_plat, b_dlat = fc.bucketized_column(plat, latbuckets), fc.bucketized_column(dlat, latbuckets)
    ploc = fc.crossed_column([b_plat, b_plon], nbuckets * nbuckets)
    dloc = fc.crossed_column([b_dlat, b_dlon], nbuckets * nbuckets)
    pd_pair = fc.crossed_column([ploc, dloc], nbuckets ** 4)
    day_hour = fc.crossed_column([day, hour], 24 * 7)

    wide = [ploc, dloc, pd_pair, day_hour, fc.indicator_column(day), fc.indicator_column(hour),
            pcount, distance]
    deep = [fc.embedding_column(pd_pair, 10), fc.embedding_column(day_hour, 10),
            plon, plat, dlon, dlat, distance]
    return wide, deep


def rmse(labels, predictions):
    pred_values = tf.cast(predictions["predictions"], tf.float64)
    return {"rmse": tf.compat.v1.metrics.root_mean_squared_error(
        tf.cast(labels, tf.float64), pred_values)}


def build_estimator(model_dir, nbuckets, hidden_units):
    wide, deep = feature_columns(nbuckets)
    estimator = tf.estimator.DNNLinearCombinedRegressor(
        model_dir=model_dir,
        linear_feature_columns=wide,
        dnn_feature_columns=deep,
        dnn_hidden_units=hidden_units,
        config=tf.estimator.RunConfig(save_checkpoints_secs=30, tf_random_seed=1),
    )
    return tf.estimator.add_metrics(estimator, rmse)


def serving_input_fn():
    """Raw features by name, one value per instance (TF1 placeholders, as the samples)."""
    floats = ["pickup_longitude", "pickup_latitude", "dropoff_longitude", "dropoff_latitude",
              "passenger_count"]
    placeholders = {name: tf.compat.v1.placeholder(tf.float32, [None], name=name)
                    for name in floats}
    placeholders.update({name: tf.compat.v1.placeholder(tf.int32, [None], name=name)
                         for name in ("hour_of_day", "day_of_week")})
    features = add_engineered(dict(placeholders))
    return tf.estimator.export.ServingInputReceiver(features, placeholders)


def train_and_evaluate(args):
    estimator = build_estimator(args["output_dir"], args["nbuckets"], args["hidden_units"])
    train_spec = tf.estimator.TrainSpec(
        input_fn=read_dataset(args["train_data_paths"], tf.estimator.ModeKeys.TRAIN,
                              args["train_batch_size"]),
        max_steps=args["train_steps"])
    exporter = tf.estimator.LatestExporter("exporter", serving_input_fn)
    eval_spec = tf.estimator.EvalSpec(
        input_fn=read_dataset(args["eval_data_paths"], tf.estimator.ModeKeys.EVAL,
                              args["eval_batch_size"]),
        steps=args["eval_steps"] or None,
        start_delay_secs=args["eval_delay_secs"],
        throttle_secs=args["throttle_secs"],
        exporters=exporter)
    result = tf.estimator.train_and_evaluate(estimator, train_spec, eval_spec)
    # Alone, or as a "master", it returns its last evaluation; a chief of a cluster
    # only trains (evaluating is an evaluator task's), so it evaluates the final
    # checkpoint itself; workers and parameter servers report nothing.
    metrics = result[0] if isinstance(result, tuple) and result[0] else None
    if metrics is None and _is_chief():
        metrics = estimator.evaluate(eval_spec.input_fn, steps=eval_spec.steps)
    if metrics and "rmse" in metrics:
        report(args["output_dir"], float(metrics["rmse"]), int(metrics.get("global_step", 0)))


def _is_chief():
    task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task") or {}
    return task.get("type", "chief") in ("chief", "master")


def report(output_dir, value, step):
    """The eval rmse for a tuning study (cloudml-hypertune, as the samples did) and for
    a promotion gate (``metrics.json`` beside the exports)."""
    tf.io.gfile.makedirs(output_dir)
    with tf.io.gfile.GFile(os.path.join(output_dir, "metrics.json"), "w") as handle:
        handle.write(json.dumps({"rmse": value, "global_step": step}))
    try:
        import hypertune  # cloudml-hypertune, in the cloud runtimes and mlapply's
    except ImportError:
        return
    hypertune.HyperTune().report_hyperparameter_tuning_metric(
        hyperparameter_metric_tag="rmse", metric_value=value, global_step=step)
