"""``python -m reconciler`` runs the mlapply command line."""

from reconciler.cli import main

main()
