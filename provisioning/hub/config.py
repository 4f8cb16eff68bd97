"""The hub's settings: ``<hub dir>/hub.toml`` plus ``SOHOA_HUB_<SECTION>__<KEY>`` overrides.

The hub has its own settings (it runs in the provincial centre, not on a kiosk). Embedded
defaults need nothing but the hub directory: SQLite in ``hub.db`` and objects under
``objects/``; ``db_url`` switches to PostgreSQL (``postgresql+psycopg://...``) and
``[storage] backend = "s3"`` to S3-compatible object storage. Relative paths are relative to
the hub directory, so a hub directory can be moved as a whole.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from provisioning.hub.fleet_config import FleetConfig
from sohoa_common.tomlfile import ConfigError, merge_overrides, read_toml, validation_error

CONFIG_NAME = "hub.toml"


class HubConfigError(ConfigError):
    """hub.toml is missing or wrong; the message names the file, the line and the setting."""


class S3Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint_url: str = Field(
        "", description="S3 endpoint, e.g. http://127.0.0.1:8333 (empty: AWS default)."
    )
    bucket: str = Field("sohoa-documents", description="Bucket that holds the documents.")
    access_key: str = Field("", description="S3 access key id.")
    secret_key: str = Field("", description="S3 secret access key.")
    region: str = Field("us-east-1", description="S3 region name (SigV4 needs one).")
    create_bucket: bool = Field(
        True, description="Create the bucket at start when it does not exist."
    )


class StorageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["local", "s3"] = Field(
        "local", description="Where received documents are kept: local directory or S3."
    )
    path: Path = Field(Path("objects"), description="Directory of the local object store.")
    quota_bytes: int | None = Field(
        None,
        ge=0,
        description="Refuse uploads (507 storage_full) once stored objects and partial "
        "uploads would exceed this many bytes; unset: only the disk's own limit.",
    )
    reserve_bytes: int = Field(
        1024**3,
        ge=0,
        description="Free disk space the hub never promises to uploads: a POST is refused "
        "(507 storage_full) when its Upload-Length does not fit the spool disk's free space "
        "minus this reserve minus what open uploads may still bring.",
    )
    s3: S3Config = S3Config()


class CertConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_days: int = Field(90, ge=1, le=3650, description="Lifetime of device certificates.")
    token_days: float = Field(
        7, gt=0, le=365, description="How long an enrollment token stays valid."
    )
    max_certs_per_window: int = Field(
        3,
        ge=1,
        le=100,
        description="Most certificates issued to one kiosk (enrollment and renewals) "
        "within renew_window_hours; a renewal beyond it gets 429 too_many_renewals. A renewed "
        "certificate is pending until the kiosk first uses it; that use revokes every older "
        "certificate of the kiosk, so one stays live.",
    )
    renew_window_hours: float = Field(
        24, gt=0, le=24 * 366, description="The window of max_certs_per_window (hours)."
    )

    @property
    def renew_window(self) -> timedelta:
        """``renew_window_hours`` as a duration."""
        return timedelta(hours=self.renew_window_hours)


class UploadConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_size: int = Field(
        2 * 1024**3, ge=1, description="Largest Upload-Length accepted (bytes, Tus-Max-Size)."
    )
    spool: Path = Field(Path("uploads"), description="Directory of partial uploads.")
    sync_every: int = Field(
        256 * 1024,
        ge=4096,
        description="Bytes received between two fsyncs of a partial upload: what a hub "
        "killed mid-upload can lose at most (the client resumes from the last fsync).",
    )
    expire_after_hours: float = Field(
        168,
        gt=0,
        le=24 * 366,
        description="An unfinished upload that receives nothing for this many hours "
        "expires (tus Expiration): its partial file is deleted, it stops counting against "
        "quota_bytes, and HEAD/PATCH answer 410 so the kiosk starts it again.",
    )

    @property
    def expire_after(self) -> timedelta:
        """``expire_after_hours`` as a duration (what the expiry arithmetic needs)."""
        return timedelta(hours=self.expire_after_hours)


class EnrollConfig(BaseModel):
    """The limit on failed enrollment attempts (``provisioning.hub.enroll_limit``)."""

    model_config = ConfigDict(extra="forbid")

    max_failures: int = Field(
        10,
        ge=1,
        le=1000,
        description="Failed simpleenroll attempts (bad or missing token, malformed request) "
        "one client address may make within window_s before it is refused with 429 "
        "too_many_attempts for window_s seconds. Counted in the hub database (shared by "
        "replicas), per address as "
        "the hub sees it (behind a TLS-terminating proxy, list it in trusted_proxies).",
    )
    window_s: int = Field(
        600,
        ge=1,
        le=24 * 3600,
        description="Seconds over which failures are counted, and how long a block lasts.",
    )
    max_tracked: int = Field(
        10_000,
        ge=100,
        le=10_000_000,
        description="Most client addresses remembered at once (bounds memory under a flood "
        "of distinct addresses; the least recently active is forgotten first).",
    )


class HubSettings(BaseSettings):
    """All hub settings; ``dir`` is where hub.toml, pki/, hub.db, objects/ and uploads/ live."""

    model_config = SettingsConfigDict(
        env_prefix="SOHOA_HUB_", env_nested_delimiter="__", extra="forbid"
    )

    dir: Path = Field(Path("."), description="The hub directory (set from --dir).")
    name: str = Field("sohoa-hub", description="Hub id written into every receipt.")
    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8443, ge=1, le=65535, description="HTTPS port.")
    public_url: str = Field(
        "", description="URL kiosks reach the hub by (default https://<host>:<port>)."
    )
    db_url: str = Field(
        "",
        description="SQLAlchemy URL; empty: SQLite file hub.db in the hub directory. "
        "PostgreSQL: postgresql+psycopg://user@/db?host=/run/postgresql",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses of reverse proxies whose X-Forwarded-For / "
        "X-Forwarded-Proto the hub believes (what the enrollment limit counts against); "
        'empty: none, the TCP peer is the client. Example: ["10.0.0.5"].',
    )
    header_timeout_s: float = Field(
        10,
        gt=0,
        le=300,
        description="A connection whose request line and headers are not complete this "
        "many seconds after they began (or after the connection opened) is closed.",
    )
    storage: StorageConfig = StorageConfig()

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_addresses(cls, v: list[str]) -> list[str]:
        """IP addresses or networks only: a ``*`` or a host name would let any client
        claim any address (and so step out of the enrollment limit)."""
        for item in v:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return [item.strip() for item in v]

    certs: CertConfig = CertConfig()
    uploads: UploadConfig = UploadConfig()
    enroll: EnrollConfig = EnrollConfig()
    fleet: FleetConfig = FleetConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment beats the file (init kwargs carry the file's content).
        return (env_settings, init_settings)

    # --- derived paths -------------------------------------------------------------------

    def resolve(self, p: Path) -> Path:
        return p if p.is_absolute() else (self.dir / p)

    @property
    def pki_dir(self) -> Path:
        return self.dir / "pki"

    @property
    def ca_cert_path(self) -> Path:
        return self.pki_dir / "fleet-ca.crt.pem"

    @property
    def ca_key_path(self) -> Path:
        return self.pki_dir / "fleet-ca.key.pem"

    @property
    def server_cert_path(self) -> Path:
        return self.pki_dir / "hub-tls.crt.pem"

    @property
    def server_key_path(self) -> Path:
        return self.pki_dir / "hub-tls.key.pem"

    @property
    def receipt_cert_path(self) -> Path:
        return self.pki_dir / "receipt-signer.crt.pem"

    @property
    def receipt_key_path(self) -> Path:
        return self.pki_dir / "receipt-signer.key.pem"

    @property
    def spool_dir(self) -> Path:
        return self.resolve(self.uploads.spool)

    @property
    def objects_dir(self) -> Path:
        return self.resolve(self.storage.path)

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{(self.dir / 'hub.db').resolve()}"

    @property
    def url(self) -> str:
        return (self.public_url or f"https://{self.host}:{self.port}").rstrip("/")


def load_hub_settings(hub_dir: Path | str, **overrides: Any) -> HubSettings:
    """Read ``<hub_dir>/hub.toml``; raise :class:`HubConfigError` naming what is wrong."""
    hub_dir = Path(hub_dir).resolve()
    path = hub_dir / CONFIG_NAME
    try:
        data, text = read_toml(path, f" (run `sohoa hub init --dir {hub_dir}`)")
    except ConfigError as exc:
        raise HubConfigError(exc.reason, exc.path, exc.line) from None
    merge_overrides(data, overrides)
    data["dir"] = hub_dir
    try:
        return HubSettings(**data)
    except ValidationError as exc:
        err = validation_error(exc, path, text)
        raise HubConfigError(err.reason, err.path, err.line) from None


def render_hub_toml(name: str, host: str, port: int, public_url: str) -> str:
    """The hub.toml that ``hub init`` writes: every section with its meaning as comments."""

    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    out = [
        "# Sohoa hub configuration (written by `sohoa hub init`).",
        "# Environment overrides: SOHOA_HUB_<KEY> or SOHOA_HUB_<SECTION>__<KEY>.",
        "",
        f"name = {q(name)}",
        f"host = {q(host)}",
        f"port = {port}",
        f"public_url = {q(public_url)}",
        f"# {HubSettings.model_fields['db_url'].description}",
        'db_url = ""',
        f"# {HubSettings.model_fields['trusted_proxies'].description}",
        "trusted_proxies = []",
        f"# {HubSettings.model_fields['header_timeout_s'].description}",
        f"header_timeout_s = {HubSettings.model_fields['header_timeout_s'].default}",
    ]
    for section, model in (
        ("storage", StorageConfig),
        ("storage.s3", S3Config),
        ("certs", CertConfig),
        ("uploads", UploadConfig),
        ("enroll", EnrollConfig),
        ("fleet", FleetConfig),
    ):
        out += ["", f"[{section}]"]
        for key, field in model.model_fields.items():
            if isinstance(field.default, BaseModel):
                continue
            out.append(f"# {field.description}")
            value = field.default
            if value is None:
                out.append(f"# {key} = ")
            elif isinstance(value, bool):
                out.append(f"{key} = {'true' if value else 'false'}")
            elif isinstance(value, int | float):
                out.append(f"{key} = {value}")
            else:
                out.append(f"{key} = {q(str(value))}")
    return "\n".join(out) + "\n"
