"""Service settings from ``AGNT_*`` environment variables (pydantic-settings).

Every value has an embedded default (SQLite and files under the data directory), so
``agnt-server serve`` runs with no configuration at all.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from agnt_models import MAX_WAIT_SECONDS


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/agnt`` (``~/.local/share/agnt``): where the embedded defaults live."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "agnt"


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and its parents) with the leaf readable by its owner only (0700).

    ``mkdir``'s mode is cut by the umask, and an existing directory keeps its mode, so the
    mode is set explicitly; a directory owned by someone else (a mounted volume) is left as
    it is.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_mode & 0o077 and info.st_uid == os.geteuid():
        path.chmod(0o700)


def create_private_file(path: Path) -> None:
    """Make sure ``path`` exists with mode 0600 (created so, or tightened if it is ours)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        info = path.stat()
        if info.st_mode & 0o077 and info.st_uid == os.geteuid():
            path.chmod(0o600)


KEEP_ALIVE_SECONDS = 65
"""How long uvicorn keeps an idle connection: longer than clients' own idle expiry (httpx: 5 s),
so a client never reuses a connection at the moment the server closes it."""


class SettingsError(Exception):
    """The environment holds a value the service cannot run with; the message says which."""


class Settings(BaseSettings):
    """Everything the API reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="AGNT_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str = ""
    storage_url: str = ""
    s3_endpoint_url: str | None = None
    s3_public_endpoint_url: str | None = Field(
        default=None,
        description="S3 address buyers reach, when it differs from the API's (containers); "
        "presigned download URLs are signed for it.",
    )
    s3_region: str | None = Field(
        default=None, description="S3 region; else AWS_REGION / AWS_DEFAULT_REGION."
    )
    public_url: str | None = Field(
        default=None,
        description="Base URL that clients reach this API at; download URLs start with it.",
    )
    lease_seconds: float = Field(default=60.0, gt=0, le=86_400)
    max_wait_seconds: float = Field(default=MAX_WAIT_SECONDS, gt=0, le=MAX_WAIT_SECONDS)
    reaper_interval_seconds: float = Field(default=5.0, gt=0, le=3_600)
    popularity_interval_seconds: float = Field(
        default=10.0,
        gt=0,
        le=3_600,
        description="How often the popularity (search ranking, sort=popular) of agents "
        "whose jobs ended is recounted: one API process per interval takes the round.",
    )
    auth_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="How long a process remembers an authenticated key (0: never); a "
        "revoked key stops working within this time on every replica.",
    )
    event_retention_days: float = Field(
        default=30, gt=0, description="Event logs of jobs that ended longer ago are deleted."
    )
    event_sweep_interval_seconds: float = Field(
        default=3_600, gt=0, description="How often the reaper deletes old event logs."
    )
    event_heartbeat_seconds: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="An idle event stream sends a comment line this often (keeps proxies open).",
    )
    max_log_bytes_per_job: int = Field(
        default=1024 * 1024,
        ge=0,
        description="Handler log bytes stored per job; past it lines are dropped (and said so).",
    )
    session_secret: str = ""
    max_body_bytes: int = Field(default=2 * 1024 * 1024, gt=0)
    max_upload_bytes: int = Field(default=1024 * 1024 * 1024, gt=0)
    download_url_seconds: int = Field(default=3_600, gt=0, le=7 * 86_400)
    max_result_files: int = Field(
        default=1_000, gt=0, description="Most result files one completion may carry."
    )
    # Rate limits (``agnt_api.ratelimit``): a sustained rate per minute and a burst, per
    # caller (principal; client IP for sign-in). Generous by default: they stop a runaway
    # or hostile caller, never a busy honest one; tighten them for an open marketplace.
    rate_limits: bool = Field(default=True, description="false turns every rate limit off.")
    rate_orders_per_minute: float = Field(default=6_000, gt=0)
    rate_orders_burst: int = Field(default=3_000, ge=1)
    rate_publishes_per_minute: float = Field(default=600, gt=0)
    rate_publishes_burst: int = Field(default=300, ge=1)
    rate_completions_per_minute: float = Field(default=6_000, gt=0)
    rate_completions_burst: int = Field(default=3_000, ge=1)
    rate_sign_ins_per_minute: float = Field(default=60, gt=0)
    rate_sign_ins_burst: int = Field(default=20, ge=1)
    rate_searches_per_minute: float = Field(default=1_200, gt=0)
    rate_searches_burst: int = Field(default=600, ge=1)
    max_params_bytes: int = Field(
        default=256 * 1024, gt=0, description="Largest params of one order, as compact JSON."
    )
    max_params_depth: int = Field(
        default=32, gt=0, le=256, description="Deepest nesting of objects and arrays in params."
    )
    max_params_values: int = Field(
        default=20_000, gt=0, description="Most values (fields and items, counted recursively)."
    )
    # Webhooks (``agnt_api.services.webhook_delivery``): attempt n waits base * 3**(n-1)
    # after the previous one; the defaults make 8 attempts over about 18 hours.
    webhook_allow_private: bool = Field(
        default=False,
        description="Allow webhook URLs on loopback, private, link-local or reserved "
        "addresses (tests, a private deployment).",
    )
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    webhook_backoff_seconds: float = Field(
        default=60.0, gt=0, le=86_400, description="Wait before the first retry; x3 each time."
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_concurrency: int = Field(
        default=16, ge=1, le=1_000, description="Deliveries in flight per API process."
    )
    webhook_poll_seconds: float = Field(
        default=5.0, gt=0, le=3_600, description="Outbox check when no wake-up came."
    )
    webhook_workers: bool = Field(
        default=True, description="false: this process delivers no webhooks."
    )
    max_input_bytes: int = Field(
        default=1024 * 1024 * 1024,
        gt=0,
        description="Largest input file, and largest sum of one order's input files.",
    )
    max_input_files: int = Field(default=20, gt=0, le=1_000, description="Most inputs per order.")
    input_file_ttl_seconds: float = Field(
        default=86_400,
        gt=0,
        description="An uploaded input file no job uses is deleted after this.",
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value:
            return value
        scheme = value.split(":", 1)[0]
        if scheme in ("postgres", "postgresql"):
            # psycopg 3 is the driver we ship; SQLAlchemy's bare scheme means psycopg2.
            return "postgresql+psycopg:" + value.split(":", 1)[1]
        if scheme not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
            raise ValueError("must be a sqlite:///path or postgresql://... URL")
        return value

    @field_validator("storage_url")
    @classmethod
    def _known_storage(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("file", "s3") or (parts.scheme == "s3" and not parts.netloc):
            raise ValueError("must be file:///path or s3://bucket[/prefix]")
        return value

    @model_validator(mode="after")
    def _embedded_defaults(self) -> Settings:
        self.data_dir = self.data_dir.expanduser().absolute()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'agnt.db'}"
        if not self.storage_url:
            self.storage_url = (self.data_dir / "objects").as_uri()
        if self.public_url:
            self.public_url = self.public_url.rstrip("/")
        return self

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    def prepare_data_dir(self) -> None:
        """Create the data directory private to this user (0700, whatever the umask).

        Only when something of the service lives in it (the SQLite file, file storage): a
        deployment on Postgres and S3 may have no writable home at all.
        """
        local_paths = [make_url(self.database_url).database or ""] if self.is_sqlite else []
        if self.storage_url.startswith("file:"):
            local_paths.append(urlsplit(self.storage_url).path)
        if any(Path(path).is_relative_to(self.data_dir) for path in local_paths if path):
            ensure_private_dir(self.data_dir)

    def resolved_session_secret(self) -> str:
        """The web session secret: configured, or generated once into the data directory."""
        if self.session_secret:
            return self.session_secret
        path = self.data_dir / "session_secret"
        if not path.exists():
            ensure_private_dir(self.data_dir)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(32))
        return path.read_text().strip()


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment; a bad value raises ``SettingsError``."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]  # overrides are validated here
    except ValidationError as exc:
        lines = [
            f"AGNT_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        ]
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from exc
