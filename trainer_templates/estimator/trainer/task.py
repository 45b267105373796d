"""Command line of the Estimator trainer, with the flags of Google's taxifare sample.

    python -m trainer.task --train_data_paths=... --eval_data_paths=... \
        --output_dir=... --train_steps=... [--job-dir=...]
"""

import argparse
import json
import os

from trainer import model


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train_data_paths", required=True, help="CSV files or globs")
    parser.add_argument("--eval_data_paths", required=True, help="CSV files or globs")
    parser.add_argument("--output_dir", required=True, help="Checkpoints and exports")
    parser.add_argument("--job-dir", dest="job_dir", default="junk", help="Set by the service")
    parser.add_argument("--train_steps", type=int, default=1000)
    parser.add_argument("--train_batch_size", type=int, default=512)
    parser.add_argument("--eval_batch_size", type=int, default=512)
    parser.add_argument("--eval_steps", type=int, default=0, help="0: the whole eval data")
    parser.add_argument("--eval_delay_secs", type=int, default=1)
    parser.add_argument("--throttle_secs", type=int, default=10)
    parser.add_argument("--nbuckets", type=int, default=10)
    parser.add_argument("--hidden_units", default="64,32", help="Layer sizes, comma-separated")
    return parser.parse_args(argv)


def chief_as_master():
    """Name the chief "master" in TF_CONFIG, as Cloud ML Engine did.

    Vertex AI (and mlapply's local runner) call it "chief", and an Estimator's
    chief only trains: evaluation and export are an evaluator's job. Its
    "master" trains, then evaluates and exports, as these samples expect.
    """
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    cluster = config.get("cluster", {})
    if "chief" in cluster:
        cluster["master"] = cluster.pop("chief")
        if config.get("task", {}).get("type") == "chief":
            config["task"]["type"] = "master"
        os.environ["TF_CONFIG"] = json.dumps(config)


def main(argv=None):
    chief_as_master()
    args = vars(parse_args(argv))
    args["hidden_units"] = [int(units) for units in args["hidden_units"].split(",") if units]
    # Trials of a tuning job write to their own folders, as the sample did.
    trial = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {}).get("trial", "")
    args["output_dir"] = os.path.join(args["output_dir"], trial)
    # On Vertex AI, beside the model folder the service names (the job's, or each
    # trial's own: it passes no per-trial flag, and no TF_CONFIG to one replica).
    if os.environ.get("AIP_MODEL_DIR"):
        args["output_dir"] = os.path.dirname(os.environ["AIP_MODEL_DIR"].rstrip("/"))
    model.train_and_evaluate(args)


if __name__ == "__main__":
    main()
