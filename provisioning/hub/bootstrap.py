"""``sohoa hub init``: a new hub directory with its fleet CA, certificates and hub.toml.

Run once per fleet. The CA key is the fleet's crown jewel: it is written 0600 and never
leaves the hub directory. Re-running on an initialized directory is refused rather than
silently replacing the CA (every enrolled kiosk would be orphaned).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from provisioning import schemas
from provisioning.hub import pki
from provisioning.hub.config import CONFIG_NAME, HubSettings, load_hub_settings, render_hub_toml
from provisioning.hub.hub_db import HubDB
from sohoa_common.atomic import atomic_write_bytes

DEFAULT_SANS = ("localhost", "127.0.0.1")


class AlreadyInitialized(Exception):
    pass


@dataclass(frozen=True)
class InitResult:
    settings: HubSettings
    ca_sha256: str


def init_hub(
    hub_dir: Path,
    name: str = "sohoa-hub",
    sans: list[str] | None = None,
    host: str = "127.0.0.1",
    port: int = 8443,
    public_url: str = "",
) -> InitResult:
    hub_dir = Path(hub_dir).resolve()
    if (hub_dir / CONFIG_NAME).exists() or (hub_dir / "pki" / "fleet-ca.key.pem").exists():
        raise AlreadyInitialized(str(hub_dir))
    hub_dir.mkdir(parents=True, exist_ok=True)
    pki_dir = hub_dir / "pki"
    pki_dir.mkdir(mode=0o700, exist_ok=True)
    os.chmod(pki_dir, 0o700)
    all_sans = list(dict.fromkeys([*DEFAULT_SANS, *(sans or [])]))

    settings = HubSettings(dir=hub_dir, name=name, host=host, port=port, public_url=public_url)
    ca_key, ca_cert = pki.make_ca(name)
    tls_key, tls_cert = pki.make_server_cert(ca_key, ca_cert, name, all_sans)
    rc_key, rc_cert = pki.make_receipt_signer(ca_key, ca_cert, name)
    pki.save_key(settings.ca_key_path, ca_key)
    pki.save_cert(settings.ca_cert_path, ca_cert)
    pki.save_key(settings.server_key_path, tls_key)
    pki.save_cert(settings.server_cert_path, tls_cert)
    pki.save_key(settings.receipt_key_path, rc_key)
    pki.save_cert(settings.receipt_cert_path, rc_cert)
    # hub.toml last: its presence marks a complete hub directory.
    atomic_write_bytes(
        hub_dir / CONFIG_NAME,
        render_hub_toml(name, host, port, public_url).encode("utf-8"),
        mode=0o640,
    )
    settings = load_hub_settings(hub_dir)
    db = HubDB(settings.database_url)
    try:
        db.create_schema()
        db.events.event("hub_initialized", None, name=name, sans=all_sans)
    finally:
        db.close()
    return InitResult(settings=settings, ca_sha256=schemas.cert_sha256(ca_cert))
