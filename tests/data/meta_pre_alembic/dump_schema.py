"""Writes the meta database schema a release's `MetaDB.create_all()` creates, as SQL for SQLite and
PostgreSQL: run with that release's tree first on PYTHONPATH (git archive <commit> app | tar -x -C DIR),
`PYTHONPATH=DIR python dump_schema.py OUT_PREFIX COMMIT`. The statements are the ones create_all emits on an
empty database (SQLAlchemy's mock engine), in its order."""
import importlib
import pathlib
import sys

from sqlalchemy import create_mock_engine

import app.meta.db as db

for name in ("app.alerts.lifecycle", "app.meta.errorgroups", "app.meta.providers", "app.meta.dashboards",
             "app.meta.sessions", "app.meta.throttle"):
    if (pathlib.Path(db.__file__).parents[2] / (name.replace(".", "/") + ".py")).is_file():
        importlib.import_module(name)
assert all(m.__file__.startswith(str(pathlib.Path(db.__file__).parents[2])) for n, m in list(sys.modules.items())
           if n.startswith("app.") and getattr(m, "__file__", None)), "another tree's modules were imported"


def create_all_statements(dialect: str) -> list[str]:
    statements: list[str] = []
    engine = create_mock_engine(f"{dialect}://", lambda sql, *a, **k: statements.append(
        str(sql.compile(dialect=engine.dialect)).strip()))
    db.Base.metadata.create_all(engine, checkfirst=False)
    return statements


for dialect in ("sqlite", "postgresql"):
    statements = create_all_statements(dialect)
    with open(f"{sys.argv[1]}_{dialect}.sql", "w") as out:
        out.write(f"-- meta database schema as created by {sys.argv[2]} (pre-Alembic create_all), {dialect}\n")
        for statement in statements:
            out.write(statement + ";\n\n")
