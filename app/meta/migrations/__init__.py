"""The meta database's Alembic scripts: env.py and versions/ (one module a revision). Run them
through app/meta/migrate.py (`platlogs db upgrade`), which configures Alembic from code."""
