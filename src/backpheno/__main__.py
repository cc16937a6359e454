"""``python -m backpheno`` runs the command line."""

from backpheno.cli import run

run()
