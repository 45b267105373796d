"""``python -m reconciler.cli`` runs the mlapply command line."""

from reconciler.cli import main

main()
