"""Settings from environment variables (prefix ``MISCOMP_``) and an optional ``.env`` file.

The defaults are the embedded mode: SQLite and media under ``./var`` and a Celery broker on
the local filesystem, so that ``make demo`` needs no server. Set the database and broker URLs
to PostgreSQL and Redis and the same code runs on them.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.domain.codecs.operator import OperatorSetup
from app.domain.media_url import S3Location, parse_media_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MISCOMP_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    var_dir: Path = Path("var")
    database_url: str = ""
    broker_url: str = ""
    media_root: Path = Path("")
    media_url: str = ""
    """Empty: media live in ``media_root``. ``s3://BUCKET/optional/prefix``: in that
    S3-compatible bucket (docs/object-storage.md); credentials come from boto3's usual chain
    (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, ...)."""
    s3_endpoint_url: str = ""
    """An S3-compatible server (MinIO, Ceph, ...); empty for AWS itself."""
    media_cache_bytes: int = Field(default=2 * 1024**3, gt=0)
    """With S3: the most bytes of the local copies kept for code that needs a file."""
    secret_key: str = ""
    max_image_pixels: int = Field(default=64_000_000, gt=0)
    max_upload_bytes: int = Field(default=200 * 1024 * 1024, gt=0)
    max_archive_members: int = Field(default=20_000, gt=0)
    https_only_cookies: bool = False
    session_max_age_s: int = 14 * 24 * 3600
    login_delay_base_s: float = Field(default=0.25, ge=0)
    """After an account's first failed login, the wait before its next password check
    (doubled by each further failure; earlier attempts are answered 429 at once)."""
    login_delay_max_s: float = Field(default=5.0, ge=0)
    login_address_failure_cap: int = Field(default=100, gt=0)
    """Failed logins from one client address in 15 minutes before it must wait."""
    thumbnail_px: int = 256
    weights_dir: Path = Path("")
    """Where neural codec weights and checkpoints are read from (and where `miscomp codecs
    fetch` puts published ones); default var/weights. Runs name checkpoints relative to it."""
    detector_weights: Path | None = None
    """The detector the ``detector`` proposal method and ``miscomp audit`` use (a file
    written by `miscomp detector train`); None: the one shipped in the package."""
    external_codecs: Path = Path("")
    """TOML or JSON file declaring the command-line codecs runs may use (docs/codecs.md);
    default var/external-codecs.toml. No file: none are declared."""
    weights_catalogue: Path = Path("")
    """TOML file with mirrors and full sha256 pins for `miscomp codecs fetch`
    (``[publishers]``, ``[pins]``; docs/codecs.md); default var/weights-catalogue.toml. No
    file: the publishers' own addresses and hashes."""
    task_lease_s: float = Field(default=3600, gt=0)
    """After this long, a result claimed by a silent worker may be taken by another task."""
    task_visibility_timeout_s: int = Field(default=3600, gt=0)
    """Redis broker: an unacknowledged task (its worker killed) is redelivered after this."""
    sweep_interval_s: float = Field(default=30, gt=0)
    """``miscomp sweep``: how often it looks for work whose task was lost (app/recovery.py)."""
    sweep_grace_s: float = Field(default=60, ge=0)
    """Waiting work that neither the broker nor a worker has held for this long is sent
    again (claimed work waits out ``task_lease_s``)."""
    worker_heartbeat_s: float = Field(default=30, gt=0)
    """How often each worker writes its last-seen time (``worker_heartbeat``, ``/metrics``)."""

    @model_validator(mode="after")
    def _embedded_defaults(self) -> Settings:
        self.var_dir = self.var_dir.resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.var_dir / 'miscomp.sqlite'}"
        if not self.broker_url:
            self.broker_url = "filesystem://"
        if self.media_root == Path(""):
            self.media_root = self.var_dir / "media"
        self.media_root = self.media_root.resolve()
        if self.media_url:
            parse_media_url(self.media_url)  # a typo stops the process at start
        if self.weights_dir == Path(""):
            self.weights_dir = self.var_dir / "weights"
        if self.weights_catalogue == Path(""):
            self.weights_catalogue = self.var_dir / "weights-catalogue.toml"
        if self.external_codecs == Path(""):
            self.external_codecs = self.var_dir / "external-codecs.toml"
        if not self.secret_key:
            self.secret_key = _secret_kept_in(self.var_dir)
        return self

    @property
    def is_embedded_broker(self) -> bool:
        return self.broker_url.startswith("filesystem://")

    @property
    def broker_dir(self) -> Path:
        return self.var_dir / "broker"

    @property
    def media_bucket(self) -> S3Location | None:
        """The S3 bucket and prefix media live in; None for the local folder."""
        return parse_media_url(self.media_url) if self.media_url else None

    @property
    def media_cache_dir(self) -> Path:
        """With S3: where local copies of stored files are kept (``local_path``)."""
        return self.var_dir / "media-cache"

    @property
    def exports_dir(self) -> Path:
        """Where the workers write study exports: under the media root, whose ``exports/``
        keys they are (``storage.export_key``); with S3, each finished file is moved from
        here into the bucket."""
        return self.media_root / "exports"

    @property
    def operator_setup(self) -> OperatorSetup:
        """What codecs may read on the server, whatever a run asks for."""
        return OperatorSetup(
            weights_dir=self.weights_dir, external_codecs_file=self.external_codecs
        )


def _secret_kept_in(var_dir: Path) -> str:
    """Generate the signing secret once and keep it, so sessions survive restarts."""
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.write_text(secret)
    path.chmod(0o600)
    return secret


@lru_cache
def get_settings() -> Settings:
    return Settings()
