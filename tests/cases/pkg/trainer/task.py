"""A trainer that must never run during validation: it fails loudly if it does."""

raise SystemExit("trainer code ran during validation")
