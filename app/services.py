"""Builds the long-lived objects the app and the CLI share, from Settings."""

from __future__ import annotations

from dataclasses import dataclass

from .config import Settings
from .events.classify import Classifier
from .events.fingerprint_rules import Fingerprinter
from .events.normalize import Normalizer
from .events.redact import Redactor
from .events.schema import load_schema
from .ingest.pipeline import Ingestor
from .ingest.stats import IngestStats
from .ingest.stats_files import stats_dir
from .meta import MetaDB
from .storage import LogStore, open_store
from .storage.group_commit import writer_queue


@dataclass
class Services:
    settings: Settings
    store: LogStore
    meta: MetaDB
    ingestor: Ingestor
    trail: LogStore  # the reading trail: its own stream, shown to reading_trail roles only
    trail_ingestor: Ingestor
    redactor: Redactor  # masks card numbers and secrets: events at ingest, free text in the meta DB
    ingest_stats: IngestStats | None = None  # this process's ingest counters (app/ingest/stats.py)

    def close(self) -> None:
        if self.ingest_stats is not None:
            self.ingest_stats.close()
        self.store.close()
        self.trail.close()
        self.meta.engine.dispose()


def build_normalizer(settings: Settings, redactor: Redactor | None = None) -> Normalizer:
    schema = load_schema()
    classifier = Classifier.from_file(settings.classification_file, schema.components, schema.types)
    return Normalizer(
        schema,
        classifier,
        redactor or Redactor.from_file(settings.redaction_file),
        max_fields=settings.max_fields_per_event,
        max_depth=settings.max_depth,
        future_tolerance_ms=settings.future_tolerance_seconds * 1000,
        fingerprinter=Fingerprinter.from_file(settings.fingerprint_file, schema.fields),
    )


def build_services(settings: Settings) -> Services:
    redactor = Redactor.from_file(settings.redaction_file)
    meta = MetaDB(settings.meta_db_url, redactor=redactor)
    try:
        if settings.meta_auto_upgrade:
            meta.upgrade()  # Alembic revisions (app/meta/migrate.py), one process at a time
        else:
            meta.check_schema()  # behind: SchemaError naming `platlogs db upgrade`
    except BaseException:
        meta.engine.dispose()
        raise
    store = open_store(settings.store_url, **settings.store_options())
    normalizer = build_normalizer(settings, redactor)
    ingestor = Ingestor(
        normalizer,
        store,
        batch_size=settings.batch_size,
        max_event_bytes=settings.max_event_bytes,
        max_errors=settings.max_reported_errors,
        max_event_age_days=settings.max_event_age_days,
    )
    ingest_stats = IngestStats(stats_dir(settings.data_dir), redactor)
    ingest_stats.queue_probe = writer_queue(store)
    ingestor.stats = ingest_stats
    trail = open_store(settings.trail_store_url, **settings.store_options())
    return Services(
        settings=settings,
        store=store,
        meta=meta,
        ingestor=ingestor,
        trail=trail,
        trail_ingestor=Ingestor(normalizer, trail, batch_size=100),
        redactor=redactor,
        ingest_stats=ingest_stats,
    )
