"""Secure export in ``sohoa demo``: a receiving office, two simulated sticks, one stick slot.

The demo must show the whole export without hardware or a real archive: a recipient key and
certificate are made at the first start (the key stays in the demo data directory, so the
exported files can be decrypted with ``openssl cms -decrypt`` or ``sohoa decrypt``), a demo
CA stands for the fleet CA and certifies the kiosk's signing key (``sohoa decrypt`` accepts
only manifests whose signer chains to a CA the office trusts: ``--trust`` that CA), and two
simulated sticks wait unplugged: the registered office stick and a stranger's stick that is
refused. The Export screen's demo buttons plug one of them in (a real kiosk has hands for
that), which the simulated backend's watcher sees like a real hot-plug.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from drivers.usb.sim import SUFFIX, SimStick, create_stick

#: The demo's registered stick (on the allowlist) and the stranger's stick (not on it).
REGISTERED = "usb-van-phong"
UNREGISTERED = "usb-la"
ALLOWED_STICK = {
    "vid": "0781",
    "pid": "5581",
    "serial": "SOHOA-DEMO-01",
    "label": "USB Văn phòng (mẫu)",
}
RECIPIENT_NAME = "luu-tru-tinh-demo"


def recipient_paths(data_dir: Path | str) -> tuple[Path, Path]:
    """(private key, certificate) of the demo's receiving office."""
    d = Path(data_dir) / "demo-recipient"
    return d / f"{RECIPIENT_NAME}.key.pem", d / f"{RECIPIENT_NAME}.crt.pem"


def demo_ca_paths(data_dir: Path | str) -> tuple[Path, Path]:
    """(private key, certificate) of the demo's stand-in for the fleet CA."""
    d = Path(data_dir) / "demo-recipient"
    return d / "demo-fleet-ca.key.pem", d / "demo-fleet-ca.crt.pem"


def sim_dir(data_dir: Path | str) -> Path:
    return Path(data_dir) / "usb-sim"


def export_overrides(data_dir: Path | str) -> dict[str, Any]:
    """The ``[export]`` settings of the demo: sim sticks, the demo office as recipient."""
    _, cert = recipient_paths(data_dir)
    return {
        "backend": "sim",
        "sim_dir": str(sim_dir(data_dir)),
        "recipients": [str(cert)],
        "allowed_sticks": [ALLOWED_STICK],
    }


def with_demo_export(settings: Any) -> Any:
    """``settings`` with the demo's ``[export]`` when its data directory is a demo's (the
    demo office's certificate is there) and no export is configured: every command then
    sees the demo's sticks as the demo does (issue 16: ``sohoa usb list`` called the
    demo's registered stick rejected, its allowlist being only in the demo process)."""
    _, cert = recipient_paths(settings.data_dir)
    exp = settings.export
    if not cert.exists() or exp.allowed_sticks or exp.recipients:
        return settings
    merged = type(exp).model_validate({**exp.model_dump(), **export_overrides(settings.data_dir)})
    return settings.model_copy(update={"export": merged})


def make_recipient(key_path: Path, cert_path: Path, *, days: int = 3650) -> None:
    """An RSA-3072 key and a self-signed encryption certificate (keyEncipherment) for the
    demo's receiving office; the key file is readable by its owner only."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    from sohoa_common.atomic import atomic_write_bytes
    from sohoa_common.x509_build import builder, key_usage

    key = rsa.generate_private_key(65537, 3072)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Trung tâm Lưu trữ tỉnh (mẫu)"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Lưu trữ tỉnh - chứng thư mã hóa (demo)"),
        ]
    )
    cert = (
        builder(
            name,
            name,
            key.public_key(),
            not_after=dt.timedelta(days=days),
            backdate=dt.timedelta(days=1),
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(encipher_keys=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(key_path, key_pem, mode=0o600)
    atomic_write_bytes(cert_path, cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sohoa (mẫu / demo)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def certify_kiosk(data_dir: Path | str, kiosk_id: str, *, days: int = 3650) -> Path:
    """Make the demo CA (once) and have it certify the kiosk's own signing key (what fleet
    enrollment does on a real kiosk), so demo exports verify with ``--trust`` that CA.
    Returns the CA certificate's path."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from firmware.archive.device_keys import (
        install_certificate,
        load_or_create_signing_identity,
    )
    from firmware.store.paths import DataPaths
    from sohoa_common.atomic import atomic_write_bytes
    from sohoa_common.x509_build import builder, key_usage

    ca_key_path, ca_cert_path = demo_ca_paths(data_dir)
    now = dt.datetime.now(dt.UTC)
    if ca_key_path.exists() and ca_cert_path.exists():
        ca_key: Any = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
        ca = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = _name("Sohoa fleet CA (demo)")
        ca = (
            builder(
                ca_name,
                ca_name,
                ca_key.public_key(),
                not_after=dt.timedelta(days=days),
                backdate=dt.timedelta(days=1),
                now=now,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(key_usage(cert_sign=True), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        ca_key_path.parent.mkdir(parents=True, exist_ok=True)
        pem = ca_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        atomic_write_bytes(ca_key_path, pem, mode=0o600)
        atomic_write_bytes(ca_cert_path, ca.public_bytes(serialization.Encoding.PEM))
    paths = DataPaths(Path(data_dir))
    _, current = load_or_create_signing_identity(paths, kiosk_id=kiosk_id)
    if current.issuer != ca.subject:
        cert = (
            builder(
                _name(f"Sohoa kiosk {kiosk_id}"),
                ca.subject,
                current.public_key(),
                not_after=ca.not_valid_after_utc,
                backdate=dt.timedelta(minutes=5),
                now=now,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(key_usage(sign=True, non_repudiation=True), critical=True)
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.UniformResourceIdentifier(f"urn:sohoa:kiosk:{kiosk_id}")]
                ),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        install_certificate(paths, cert.public_bytes(serialization.Encoding.PEM))
    return ca_cert_path


def prepare(data_dir: Path | str, kiosk_id: str = "dev-kiosk") -> str:
    """Make what the demo export needs (once) and return the banner lines about it."""
    key, cert = recipient_paths(data_dir)
    if not (key.exists() and cert.exists()):
        make_recipient(key, cert)
    ca = certify_kiosk(data_dir, kiosk_id)
    sims = sim_dir(data_dir)
    for name, serial in ((REGISTERED, ALLOWED_STICK["serial"]), (UNREGISTERED, "UNKNOWN-7731")):
        if not (sims / f"{name}{SUFFIX}").exists():
            stick = create_stick(
                sims,
                name,
                vid=ALLOWED_STICK["vid"],
                pid=ALLOWED_STICK["pid"],
                serial=serial,
                product="Ultra" if name == REGISTERED else "Cruzer",
                capacity=2 * 1000**3,
            )
            stick.unplug()  # waiting beside the kiosk until the demo plugs it in
    return (
        "Xuất USB mẫu / demo export: cắm USB mẫu trên màn hình Xuất ra USB bảo mật; "
        f"giải mã / decrypt: sohoa decrypt {sims / REGISTERED}/sohoa-export-... --key {key} "
        f"--trust {ca}"
    )


def plug(sims: Path, which: str) -> None:
    """Plug the demo's ``registered`` or ``unregistered`` stick (the other is pulled),
    or pull both (``none``); ``sims`` is the simulator's directory."""
    for name, kind in ((REGISTERED, "registered"), (UNREGISTERED, "unregistered")):
        stick = SimStick(sims / f"{name}{SUFFIX}")
        if not stick.descriptor.exists():
            continue
        if kind == which:
            stick.clear_faults()
            stick.plug()
        elif stick.plugged:
            stick.unplug()


def available(sims: Path, backend: str) -> bool:
    """True when the demo sticks exist and the kiosk uses the simulated backend."""
    return backend == "sim" and (sims / f"{REGISTERED}{SUFFIX}").exists()
