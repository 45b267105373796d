"""Hyperparameter tuning and metric gates: suggestions (a kept search library), the
study's rules (best trial, failed-trial bound, early stopping) and gates. Pure:
the backends run the trials and read what the trainers reported."""
