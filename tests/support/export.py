"""Shared helpers for the secure-export tests (no tests in here).

Sealed documents are made cheaply: catalog rows set straight to ``sealed``, a small
PDF-like file with its recorded hash, a sidecar, page frames and work files, OCR text in the
catalog. Recipient certificates are made with ``cryptography``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from drivers.leds import NullLeds
from drivers.usb.sim import SimBackend, create_stick
from firmware.config import ExportConfig
from firmware.events import EventBus
from firmware.export.exporter import Exporter
from firmware.store.catalog import Catalog, new_id
from firmware.store.paths import DataPaths
from sohoa_common.x509_build import builder
from sohoa_common.x509_build import key_usage as x509_key_usage

STICK = {"vid": "0781", "pid": "5581", "serial": "4C530001", "label": "USB Văn phòng 1"}


def make_cert(
    directory: Path,
    name: str,
    *,
    kind: str = "rsa",
    days: int = 365,
    start_days: int = -1,
    key_usage: str | None = "encrypt",
    ca: bool = False,
    rsa_bits: int = 2048,
) -> tuple[Path, Path]:
    """A self-signed recipient certificate and its key (PEM files)."""
    key: Any = (
        rsa.generate_private_key(65537, rsa_bits)
        if kind == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    b = builder(
        subject,
        subject,
        key.public_key(),
        not_after=dt.timedelta(days=start_days + days),
        backdate=dt.timedelta(days=-start_days),
    ).add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    if key_usage is not None:
        enc = key_usage == "encrypt"
        usage = x509_key_usage(
            sign=not enc,
            encipher_keys=enc and kind == "rsa",
            agree_keys=enc and kind == "ec",
            cert_sign=ca,
        )
        b = b.add_extension(usage, critical=True)
    cert = b.sign(key, hashes.SHA256())
    directory.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = directory / f"{name}.key.pem", directory / f"{name}.crt.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@pytest.fixture(scope="session")
def recipient(tmp_path_factory) -> tuple[Path, Path]:
    """The receiving archive's RSA key and certificate (made once per session)."""
    return make_cert(tmp_path_factory.mktemp("recipient"), "luu-tru-tinh")


def make_sealed(
    paths: DataPaths,
    catalog: Catalog,
    *,
    level: str = "mat",
    size: int = 30_000,
    text: str = "Nghị quyết về công tác bảo vệ bí mật nhà nước",
    title: str = "Kế hoạch bảo vệ bí mật",
    pages: int = 2,
) -> dict[str, Any]:
    """A sealed document with frames, work files, OCR text and a PDF-like file."""
    doc = catalog.create_document("clerk", title=title)
    doc_id = doc["id"]
    for i in range(pages):
        page_id = new_id("P")
        frame = paths.frame(doc_id, page_id)
        frame.parent.mkdir(parents=True, exist_ok=True)
        frame.write_bytes(b"\xff\xd8 frame " + os.urandom(64))
        catalog.add_page(
            doc_id,
            "clerk",
            page_id=page_id,
            frame_path=str(frame),
            frame_sha256=hashlib.sha256(frame.read_bytes()).hexdigest(),
        )
        work = paths.page_ocr(doc_id, page_id)
        work.parent.mkdir(parents=True, exist_ok=True)
        work.write_text(json.dumps({"words": [], "dpi": 300, "text": text}), encoding="utf-8")
        catalog.set_page_text(doc_id, page_id, f"{text} (trang {i + 1})")
    pdf = b"%PDF-1.7\n" + os.urandom(size) + b"\n%%EOF\n"
    sha = hashlib.sha256(pdf).hexdigest()
    paths.sealed_pdf(doc_id).write_bytes(pdf)
    paths.sealed_sidecar(doc_id).write_text(
        json.dumps({"id": doc_id, "title": title, "sha256": sha}, ensure_ascii=False),
        encoding="utf-8",
    )
    with catalog.transaction() as db:
        db.execute(
            "UPDATE documents SET state='sealed', confidentiality=?, sha256=?, pdf_path=?, "
            "pdf_size=? WHERE id=?",
            [level, sha, str(paths.sealed_pdf(doc_id)), len(pdf), doc_id],
        )
    return {**catalog.get_document(doc_id), "pdf_bytes": pdf}


@dataclass
class Env:
    paths: DataPaths
    catalog: Catalog
    sim_dir: Path
    recipient_key: Path
    recipient_cert: Path
    leds: NullLeds
    events: EventBus

    def config(self, **kw: Any) -> ExportConfig:
        kw.setdefault("recipients", [str(self.recipient_cert)])
        kw.setdefault("allowed_sticks", [STICK])
        kw.setdefault("sim_dir", str(self.sim_dir))
        return ExportConfig(**kw)

    def exporter(self, **kw: Any) -> Exporter:
        cfg_kw = {k: kw.pop(k) for k in list(kw) if k in ExportConfig.model_fields}
        kw.setdefault("backend", SimBackend(self.sim_dir))
        return Exporter(
            self.catalog,
            self.paths,
            self.config(**cfg_kw),
            kiosk_id="kiosk-test",
            leds=self.leds,
            events=self.events,
            **kw,
        )

    def stick(self, name: str = "stick", **kw: Any):
        kw.setdefault("vid", STICK["vid"])
        kw.setdefault("pid", STICK["pid"])
        kw.setdefault("serial", STICK["serial"])
        return create_stick(self.sim_dir, name, **kw)

    def sealed(self, **kw: Any) -> dict[str, Any]:
        return make_sealed(self.paths, self.catalog, **kw)


@pytest.fixture
def env(tmp_path, recipient):
    paths = DataPaths(tmp_path / "var").ensure()
    catalog = Catalog(paths.catalog)
    e = Env(paths, catalog, tmp_path / "usb", recipient[0], recipient[1], NullLeds(), EventBus())
    yield e
    catalog.close()


def openssl(*args: str, **kw: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], capture_output=True, **kw)


def export_dir_of(stick_root: Path) -> Path:
    dirs = [p for p in stick_root.iterdir() if p.name.startswith("sohoa-export-")]
    assert len(dirs) == 1, dirs
    return dirs[0]
