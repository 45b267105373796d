"""Command line of the trainer: parse flags, then train and export (model.py).

    python -m trainer.task --train_data_paths=... --eval_data_paths=... \
        --output_dir=... [--job-dir=...] [--train_steps=...] [hyperparameters]
"""

from __future__ import annotations

import argparse

from trainer import model


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train_data_paths", required=True, help="CSV files or globs, comma-separated")
    parser.add_argument("--eval_data_paths", required=True, help="CSV files or globs, comma-separated")
    parser.add_argument("--output_dir", required=True, help="Where the SavedModel and metrics go")
    parser.add_argument("--job-dir", dest="job_dir", default=None, help="Set by the service; unused")
    parser.add_argument("--train_steps", type=int, default=1000)
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--learning_rate", type=float, default=0.005)
    parser.add_argument("--hidden_units", default="32,16", help="Layer sizes, comma-separated")
    parser.add_argument("--embedding_dim", type=int, default=4, help="Size of category embeddings")
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--eval_steps", type=int, default=0, help="0: the whole eval data")
    parser.add_argument("--metric_tag", default="auc", help="Name of the tuning metric")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    model.train_and_evaluate(
        model.Config(
            train_data_paths=args.train_data_paths,
            eval_data_paths=args.eval_data_paths,
            output_dir=args.output_dir,
            train_steps=args.train_steps,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            hidden_units=[int(u) for u in args.hidden_units.split(",") if u],
            embedding_dim=args.embedding_dim,
            dropout=args.dropout,
            eval_steps=args.eval_steps,
            metric_tag=args.metric_tag,
            seed=args.seed,
        )
    )


if __name__ == "__main__":
    main()
