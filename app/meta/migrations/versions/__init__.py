"""Revisions of the meta database, oldest first (0001_baseline.py: the schema when migrations began)."""
