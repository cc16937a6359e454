"""Declarations of every instrument backpheno scores (one module per family)."""
