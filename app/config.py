"""Settings from PLATLOGS_* environment variables (and *_FILE secrets), validated at start.

Nothing here runs at import time: `Settings.from_env()` is called by `create_app` and the CLI,
and tests pass their own mapping. A bad value raises `ConfigError` naming the setting.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names it."""


def _read(env: Mapping[str, str], name: str) -> str | None:
    """The value of PLATLOGS_<name>, or the contents of the file named by PLATLOGS_<name>_FILE."""
    key = f"PLATLOGS_{name}"
    if env.get(f"{key}_FILE"):
        path = Path(env[f"{key}_FILE"])
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{key}_FILE: cannot read {path}: {exc.strerror}") from exc
    value = env.get(key)
    return value if value not in (None, "") else None


# The data directories one may replace with one's own: setting -> the directory shipped in the package.
SHIPPED = {"RULES_DIR": "alerts", "TEMPLATES_DIR": "index_templates", "DASHBOARDS_DIR": "dashboards"}


def shipped_dir(name: str) -> Path:
    """Data packaged with the app: app/shipped/<name> (alerts, index_templates, dashboards), found
    with importlib.resources, so an installed wheel finds them as an editable install does (the
    repository's top-level alerts/, index_templates/ and dashboards/ are links to these)."""
    return Path(str(files(__package__) / "shipped" / name))


def directory_setting(setting: str, env: Mapping[str, str] | None = None) -> Path:
    """The directory of PLATLOGS_RULES_DIR, PLATLOGS_TEMPLATES_DIR or PLATLOGS_DASHBOARDS_DIR, or
    the shipped one when unset: the one place each is decided (the scheduler, the CLI, the pages
    and the OpenSearch store all ask here, so they cannot read different directories)."""
    raw = _read(os.environ if env is None else env, setting)
    if raw is None:
        return shipped_dir(SHIPPED[setting])
    path = Path(raw).expanduser()
    if not path.is_dir():
        raise ConfigError(f"PLATLOGS_{setting}: no such directory {path}")
    return path


def trail_url_for(store_url: str, data_dir: Path) -> str:
    """The reading trail's own stream beside the event store: a sibling SQLite directory, or the
    same cluster under the index prefix `<prefix>_trail`."""
    parts = urlsplit(store_url)
    if parts.scheme in ("sqlite", "tantivy"):  # small writes, each durable at once: SQLite's strength
        return f"sqlite:///{data_dir / 'trail'}"
    query = dict(parse_qsl(parts.query))
    query["prefix"] = query.get("prefix", "platlogs") + "_trail"
    return urlunsplit(parts._replace(query=urlencode(query)))


def default_store_url(data_dir: Path) -> str:
    """The embedded tantivy store in `<data dir>/store`, unless the data directory already holds
    an SQLite store of an earlier version (kept in use: `platlogs migrate` moves it)."""
    if (data_dir / "events" / "events.db").exists():
        return f"sqlite:///{data_dir / 'events'}"
    return f"tantivy:///{data_dir / 'store'}"


def _int(env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int) -> int:
    raw = _read(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"PLATLOGS_{name}: expected an integer, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"PLATLOGS_{name}: must be between {minimum} and {maximum}, got {value}")
    return value


_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _read(env, name)
    if raw is None:
        return default
    if raw.lower() not in _TRUE + _FALSE:
        raise ConfigError(f"PLATLOGS_{name}: expected true or false, got {raw!r}")
    return raw.lower() in _TRUE


def _meta_db_url(env: Mapping[str, str], data_dir: Path) -> str:
    """PLATLOGS_META_DB, with PLATLOGS_META_DB_PASSWORD (or its _FILE secret) put into the URL."""
    raw = _read(env, "META_DB") or f"sqlite:///{data_dir / 'meta.db'}"
    if "://" not in raw:
        raise ConfigError(f"PLATLOGS_META_DB: expected an SQLAlchemy URL, got {raw!r}")
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise ConfigError(f"PLATLOGS_META_DB: not a valid SQLAlchemy URL: {raw!r}") from None
    password = _read(env, "META_DB_PASSWORD")
    if password is None:
        return raw
    if url.get_backend_name() == "sqlite":
        raise ConfigError("PLATLOGS_META_DB_PASSWORD: an SQLite meta database takes no password")
    if url.password is not None:
        raise ConfigError("PLATLOGS_META_DB_PASSWORD: PLATLOGS_META_DB already holds a password; give it in one place")
    return url.set(password=password).render_as_string(hide_password=False)


@dataclass(frozen=True)
class SyslogSettings:
    """PLATLOGS_SYSLOG_*: the syslog listeners (app/syslog/); none configured, none run."""

    tcp: tuple[str, int] | None = None  # RFC 6587 over TCP: octet-counted or newline-framed
    udp: tuple[str, int] | None = None  # RFC 3164 / 5424, one message a datagram
    tls: tuple[str, int] | None = None  # RFC 5425: TCP with TLS (needs tls_cert and tls_key)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    timezone: str = "UTC"  # the zone of RFC 3164 times, which carry none
    max_message_bytes: int = 32 * 1024  # a longer frame is cut (and counted)
    batch_size: int = 10_000  # events a batch at most (a commit: larger ones cost less CPU an event) ...
    batch_ms: int = 500  # ... written at least this often while any wait
    queue: int = 10_000  # events waiting besides the batches being written
    max_connections: int = 1024
    writers: int = 2  # processes parsing and storing (0: a thread of the listener)

    @property
    def enabled(self) -> bool:
        return bool(self.tcp or self.udp or self.tls)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    store_url: str
    trail_store_url: str
    meta_db_url: str
    secret_key: str
    # bring the meta database to the newest schema at start (else refuse to start while it is behind)
    meta_auto_upgrade: bool = True
    max_event_bytes: int = 64 * 1024
    max_request_bytes: int = 32 * 1024 * 1024
    max_fields_per_event: int = 500
    max_depth: int = 8
    max_reported_errors: int = 1000
    batch_size: int = 10_000
    future_tolerance_seconds: int = 24 * 3600
    # partitions: UTC days within this many days of now, older times in a month or year
    day_partition_days: int = 31
    max_event_age_days: int = 0  # refuse events older than this (0: accept back to 1990)
    # gzip bodies: decompressed bytes per request, and decompressed / compressed bytes
    max_inflated_bytes: int = 1 << 30
    max_gzip_ratio: int = 200
    max_url_bytes: int = 8000  # request line (path + query) the app answers 414 beyond
    classification_file: Path | None = None
    fingerprint_file: Path | None = None  # custom error fingerprint rules (app/events/fingerprints.yaml)
    redaction_file: Path | None = None
    secure_cookies: bool = False
    trusted_proxies: int = 0  # reverse proxies in front of the app whose X-Forwarded-* to believe
    store_username: str | None = None
    store_password: str | None = field(default=None, repr=False)
    store_ca_file: Path | None = None
    store_verify_tls: bool = True
    # alert notifications: the back office's address (links in notifications) and the SMTP relay
    base_url: str = "http://127.0.0.1:8080"
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str = "platlogs@localhost"
    smtp_starttls: bool = False
    syslog: SyslogSettings = field(default_factory=SyslogSettings)
    # rule files, OpenSearch index templates and dashboards (config.directory_setting): shipped by default
    rules_dir: Path = field(default_factory=lambda: shipped_dir("alerts"))
    templates_dir: Path = field(default_factory=lambda: shipped_dir("index_templates"))
    dashboards_dir: Path = field(default_factory=lambda: shipped_dir("dashboards"))

    def store_options(self) -> dict:
        """The connection options that were set, as keyword arguments for `open_store`."""
        options: dict = {}
        if self.store_username is not None:
            options["username"] = self.store_username
        if self.store_password is not None:
            options["password"] = self.store_password
        if self.store_ca_file is not None:
            options["ca_file"] = str(self.store_ca_file)
        if not self.store_verify_tls:
            options["verify_tls"] = False
        if self.day_partition_days != 31:  # the stores' own default otherwise
            options["day_partition_days"] = self.day_partition_days
        return options

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(_read(env, "DATA_DIR") or "var").expanduser().resolve()
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"PLATLOGS_DATA_DIR: cannot create {data_dir}: {exc.strerror}") from exc

        store_url = _read(env, "STORE") or default_store_url(data_dir)
        if "://" not in store_url:
            raise ConfigError(
                "PLATLOGS_STORE: expected a URL like tantivy:///path, sqlite:///path or "
                f"opensearch://host:9200, got {store_url!r}"
            )
        meta_db_url = _meta_db_url(env, data_dir)
        trail_store_url = _read(env, "TRAIL_STORE") or trail_url_for(store_url, data_dir)

        secret_key = _read(env, "SECRET_KEY") or _persistent_secret(data_dir / "secret_key")
        if len(secret_key) < 16:
            raise ConfigError("PLATLOGS_SECRET_KEY: must be at least 16 characters")

        def optional_path(name: str) -> Path | None:
            raw = _read(env, name)
            if raw is None:
                return None
            path = Path(raw)
            if not path.is_file():
                raise ConfigError(f"PLATLOGS_{name}: no such file {path}")
            return path

        return cls(
            data_dir=data_dir,
            store_url=store_url,
            trail_store_url=trail_store_url,
            meta_db_url=meta_db_url,
            secret_key=secret_key,
            meta_auto_upgrade=_bool(env, "META_AUTO_UPGRADE", True),
            max_event_bytes=_int(env, "MAX_EVENT_BYTES", 64 * 1024, 1024, 16 * 1024 * 1024),
            max_request_bytes=_int(env, "MAX_REQUEST_BYTES", 32 * 1024 * 1024, 1024, 1 << 31),
            max_fields_per_event=_int(env, "MAX_FIELDS_PER_EVENT", 500, 10, 100_000),
            max_depth=_int(env, "MAX_DEPTH", 8, 2, 64),
            batch_size=_int(env, "BATCH_SIZE", 10_000, 1, 100_000),
            day_partition_days=_int(env, "DAY_PARTITION_DAYS", 31, 0, 3660),
            max_event_age_days=_int(env, "MAX_EVENT_AGE_DAYS", 0, 0, 36_600),
            max_inflated_bytes=_int(env, "MAX_INFLATED_BYTES", 1 << 30, 1024, 1 << 40),
            max_gzip_ratio=_int(env, "MAX_GZIP_RATIO", 200, 2, 1_000_000),
            max_url_bytes=_int(env, "MAX_URL_BYTES", 8000, 1024, 8000),
            classification_file=optional_path("CLASSIFICATION_FILE"),
            fingerprint_file=optional_path("FINGERPRINT_FILE"),
            redaction_file=optional_path("REDACTION_FILE"),
            secure_cookies=_bool(env, "SECURE_COOKIES", False),
            trusted_proxies=_int(env, "TRUSTED_PROXIES", 0, 0, 5),
            store_username=_read(env, "STORE_USERNAME"),
            store_password=_read(env, "STORE_PASSWORD"),
            store_ca_file=optional_path("STORE_CA_FILE"),
            store_verify_tls=_bool(env, "STORE_VERIFY_TLS", True),
            base_url=_base_url(env),
            **_smtp(env),
            syslog=_syslog(env, optional_path),
            rules_dir=directory_setting("RULES_DIR", env),
            templates_dir=directory_setting("TEMPLATES_DIR", env),
            dashboards_dir=directory_setting("DASHBOARDS_DIR", env),
        )


def _base_url(env: Mapping[str, str]) -> str:
    """PLATLOGS_BASE_URL: where people reach the back office (links in alert notifications)."""
    raw = _read(env, "BASE_URL") or "http://127.0.0.1:8080"
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"PLATLOGS_BASE_URL: expected http(s)://host[:port][/path], got {raw!r}")
    return raw.rstrip("/")


def _smtp(env: Mapping[str, str]) -> dict:
    """PLATLOGS_SMTP_*: the relay alert e-mails go through (none: e-mail destinations fail)."""
    host, user, password = _read(env, "SMTP_HOST"), _read(env, "SMTP_USER"), _read(env, "SMTP_PASSWORD")
    sender = _read(env, "SMTP_FROM") or "platlogs@localhost"
    if password is not None and user is None:
        raise ConfigError("PLATLOGS_SMTP_PASSWORD: set PLATLOGS_SMTP_USER too (a password needs a user name)")
    if user is not None and host is None:
        raise ConfigError("PLATLOGS_SMTP_USER: set PLATLOGS_SMTP_HOST too")
    if host is not None and (any(c.isspace() for c in host) or "/" in host):
        raise ConfigError(f"PLATLOGS_SMTP_HOST: expected a host name or address, got {host!r}")
    local, at, domain = sender.rpartition("@")
    if not at or not local or not domain or any(c.isspace() or c in "<>," for c in sender):
        raise ConfigError(f"PLATLOGS_SMTP_FROM: expected an e-mail address like alerts@example.com, got {sender!r}")
    return {
        "smtp_host": host,
        "smtp_port": _int(env, "SMTP_PORT", 25, 1, 65535),
        "smtp_user": user,
        "smtp_password": password,
        "smtp_from": sender,
        "smtp_starttls": _bool(env, "SMTP_STARTTLS", False),
    }


def _address(env: Mapping[str, str], name: str) -> tuple[str, int] | None:
    """PLATLOGS_<name>: host:port ([v6]:port for IPv6; port 0: any free port)."""
    raw = _read(env, name)
    if raw is None:
        return None
    host, sep, port = raw.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or int(port) > 65535 or any(c.isspace() or c in "/[]" for c in host):
        raise ConfigError(f"PLATLOGS_{name}: expected host:port like 127.0.0.1:5514 or [::1]:5514, got {raw!r}")
    return host, int(port)


def _syslog(env: Mapping[str, str], optional_path) -> SyslogSettings:
    """PLATLOGS_SYSLOG_*: see SyslogSettings and the README."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    tls, cert, key = _address(env, "SYSLOG_TLS"), optional_path("SYSLOG_TLS_CERT"), optional_path("SYSLOG_TLS_KEY")
    if tls and not (cert and key):
        raise ConfigError("PLATLOGS_SYSLOG_TLS: set PLATLOGS_SYSLOG_TLS_CERT and PLATLOGS_SYSLOG_TLS_KEY too")
    if (cert or key) and not tls:
        raise ConfigError("PLATLOGS_SYSLOG_TLS_CERT/KEY: set PLATLOGS_SYSLOG_TLS (the TLS listener's host:port) too")
    zone = _read(env, "SYSLOG_TIMEZONE") or "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"PLATLOGS_SYSLOG_TIMEZONE: not a time zone name like UTC or Europe/Malta: {zone!r}") from None
    return SyslogSettings(
        tcp=_address(env, "SYSLOG_TCP"),
        udp=_address(env, "SYSLOG_UDP"),
        tls=tls,
        tls_cert=cert,
        tls_key=key,
        timezone=zone,
        max_message_bytes=_int(env, "SYSLOG_MAX_MESSAGE_BYTES", 32 * 1024, 480, 1 << 20),
        batch_size=_int(env, "SYSLOG_BATCH_SIZE", 10_000, 1, 100_000),
        batch_ms=_int(env, "SYSLOG_BATCH_MS", 500, 1, 60_000),
        queue=_int(env, "SYSLOG_QUEUE", 10_000, 1, 1_000_000),
        max_connections=_int(env, "SYSLOG_MAX_CONNECTIONS", 1024, 1, 100_000),
        writers=_int(env, "SYSLOG_WRITERS", 2, 0, 32),
    )


def _persistent_secret(path: Path) -> str:
    """A secret generated once and kept in the data directory (mode 0600)."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    value = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value
