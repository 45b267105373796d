"""A fare model written as many people write one: argparse, pandas and Keras, then
tf.saved_model.save with a serving signature of its own. Its flag
--refuse_passengers_over makes the exported model fail (an assertion inside the
graph) for trips with more passengers: a model that breaks on some inputs."""

import argparse
import glob
import os

import pandas as pd
import tensorflow as tf

FEATURES = ["pickup_longitude", "pickup_latitude", "dropoff_longitude", "dropoff_latitude"]


def read(paths):
    files = [f for p in paths.split(",") for f in sorted(glob.glob(p))]
    return pd.concat([pd.read_csv(f) for f in files])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train_data_paths", required=True)
    parser.add_argument("--eval_data_paths", required=True)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--job-dir", default=None)
    parser.add_argument("--train_steps", type=int, default=20)
    parser.add_argument("--refuse_passengers_over", type=int, default=0)
    args, _ = parser.parse_known_args()

    frame = read(args.train_data_paths)
    x = frame[FEATURES + ["passenger_count"]].to_numpy("float32")
    y = frame["fare_amount"].to_numpy("float32")
    model = tf.keras.Sequential([tf.keras.layers.Dense(8, activation="relu"), tf.keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, steps_per_epoch=args.train_steps, batch_size=32, verbose=0)

    limit = float(args.refuse_passengers_over)
    spec = {name: tf.TensorSpec([None], tf.float32, name=name) for name in FEATURES}
    spec["passenger_count"] = tf.TensorSpec([None], tf.float32, name="passenger_count")

    @tf.function(input_signature=[spec])
    def serve(features):
        passengers = features["passenger_count"]
        if limit > 0:
            check = tf.debugging.assert_less_equal(passengers, limit, message="too many passengers")
            with tf.control_dependencies([check]):
                passengers = tf.identity(passengers)
        columns = [features[name] for name in FEATURES] + [passengers]
        return {"fare": model(tf.stack(columns, axis=1))[:, 0]}

    module = tf.Module()
    module.model = model
    export = os.path.join(args.output_dir, "export", "1")
    tf.saved_model.save(module, export, signatures={"serving_default": serve})


if __name__ == "__main__":
    main()
