"""A real hub for tests: ``hub init`` in a temp dir, uvicorn over mTLS in a subprocess.

The fixtures ``hub`` and ``hub_factory`` reach every test through ``pytest_plugins`` in
``tests/conftest.py``; the helpers are imported, e.g.
``from tests.support.hub import enroll_test_device, device_client``.

``hub`` is a started :class:`HubProcess` (``.url``, ``.dir``, ``.ca_path``,
``.mint_token(group)``, ``.kill()``, ``.start()``); ``hub_factory(**overrides)`` starts one
with settings overrides in hub.toml's nested form, e.g.
``hub_factory(storage={"quota_bytes": 10_000})``. ``enroll_test_device`` enrolls a device
through the real EST endpoint and returns its key and certificate paths;
``serve_in_thread(hub_dir, store=...)`` runs the same server in-process for fault injection;
``fleet_hub_dir``, ``hub_app`` and ``enroll_kiosks`` compose the hub in-process without a
server (replicas, round trips).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from provisioning import schemas

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_env(overrides: dict[str, Any], prefix: str = "SOHOA_HUB_") -> dict[str, str]:
    """Nested overrides as the hub's environment variables (SOHOA_HUB_SECTION__KEY)."""
    env: dict[str, str] = {}
    for key, value in overrides.items():
        name = prefix + key.upper()
        if isinstance(value, dict):
            env.update(settings_env(value, name + "__"))
        elif isinstance(value, list):  # pydantic-settings reads complex values as JSON
            env[name] = json.dumps(value)
        elif isinstance(value, bool):
            env[name] = "true" if value else "false"
        else:
            env[name] = str(value)
    return env


@dataclass
class HubProcess:
    """A hub directory and the uvicorn process serving it."""

    dir: Path
    port: int
    overrides: dict[str, Any] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_path(self) -> Path:
        return self.dir / "pki" / "fleet-ca.crt.pem"

    @property
    def log_path(self) -> Path:
        return self.dir / f"hub-{self.starts}.log"

    @property
    def ca_sha256(self) -> str:
        from cryptography import x509

        return schemas.cert_sha256(x509.load_pem_x509_certificate(self.ca_path.read_bytes()))

    def settings(self) -> Any:
        from provisioning.hub.config import load_hub_settings

        return load_hub_settings(self.dir, **self.overrides)

    def db(self) -> Any:
        from provisioning.hub.hub_db import HubDB

        return HubDB(self.settings().database_url)

    def start(self) -> HubProcess:
        self.starts += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
        env.update(settings_env(self.overrides))
        env["PYTHONPATH"] = str(ROOT)
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "provisioning.hub", "--dir", str(self.dir)]
            + ["--host", "127.0.0.1", "--port", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        log.close()
        self._wait_ready()
        return self

    def _log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _wait_ready(self) -> None:
        ctx = ssl.create_default_context(cafile=str(self.ca_path))
        end = time.monotonic() + START_TIMEOUT
        while time.monotonic() < end:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"hub exited at start:\n{self._log_text()}")
            try:
                r = httpx.get(self.url + schemas.EST_CACERTS, verify=ctx, timeout=2)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"hub did not answer within {START_TIMEOUT}s:\n{self._log_text()}")

    def kill(self) -> None:
        """kill -9: a power cut or OOM kill of the hub."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def mint_token(self, group: str = "test", days: float = 7) -> Any:
        """A fresh one-time token (``.token``, ``.uri``) recorded in the hub's database."""
        from provisioning.hub.tokens import mint_token

        db = self.db()
        try:
            return mint_token(db.tokens, group, days, self.url, self.ca_sha256)
        finally:
            db.close()


def init_hub_dir(path: Path, name: str = "test-hub") -> Path:
    from provisioning.hub.bootstrap import init_hub

    init_hub(path, name=name)
    return path


def fleet_hub_dir(base: Path, name: str = "test-hub") -> Path:
    """A hub directory as ``sohoa hub init`` and ``sohoa fleet keys init`` leave it (the
    configuration repository's keys kept offline in ``base / "keys"``)."""
    from provisioning.hub.fleet_keys import init_keys
    from provisioning.hub.tuf_repo import ConfigRepository

    hub_dir = init_hub_dir(base / "hub", name=name)
    init_keys(base / "keys", ConfigRepository(hub_dir / "tuf"))
    return hub_dir


def hub_app(hub_dir: Path, db_url: str | None = None) -> Any:
    """The hub's own composition in-process (``HubService`` + ``create_app``, as ``python -m
    provisioning.hub`` builds it); ``app.state.hub`` is its service, closed by the caller."""
    from provisioning.hub.app import create_app
    from provisioning.hub.config import load_hub_settings
    from provisioning.hub.service import HubService

    overrides = {"db_url": db_url} if db_url else {}
    return create_app(HubService(load_hub_settings(hub_dir, **overrides)))


def enroll_kiosks(db: Any, group: str, kiosks: list[tuple[str, str]]) -> None:
    """Record ``kiosks`` (id, certificate serial) as enrolled in ``group``, one token each,
    as the EST enrollment leaves them in the hub's database."""
    from datetime import timedelta

    from provisioning.hub.db import now_utc
    from provisioning.hub.tokens import hash_token

    for i, (kiosk, serial) in enumerate(kiosks):
        token = hash_token(f"{group}-{kiosk}-{i}")
        db.tokens.add_token(token, group, now_utc() + timedelta(days=1))
        db.devices.enroll(token, kiosk, serial, now_utc() + timedelta(days=90))


@pytest.fixture
def hub_factory(tmp_path: Path) -> Iterator[Any]:
    made: list[HubProcess] = []

    def make(name: str = "test-hub", start: bool = True, **overrides: Any) -> HubProcess:
        d = init_hub_dir(tmp_path / f"hub{len(made)}", name=name)
        hub = HubProcess(dir=d, port=free_port(), overrides=overrides)
        made.append(hub)
        return hub.start() if start else hub

    yield make
    for h in made:
        with contextlib.suppress(Exception):
            h.stop()


@pytest.fixture
def hub(hub_factory: Any) -> HubProcess:
    return hub_factory()


@dataclass(frozen=True)
class DeviceFiles:
    kiosk_id: str
    key_path: Path
    cert_path: Path
    ca_path: Path
    hub_url: str

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_path))
        ctx.load_cert_chain(str(self.cert_path), str(self.key_path))
        return ctx


def enroll_test_device(
    hub: HubProcess, kiosk_id: str = "kiosk-1", dest: Path | None = None, group: str = "test"
) -> DeviceFiles:
    """Enroll through ``POST /.well-known/est/simpleenroll`` and write key + cert PEMs."""
    from provisioning.hub import pki

    dest = dest or hub.dir.parent / f"device-{kiosk_id}"
    dest.mkdir(parents=True, exist_ok=True)
    token = hub.mint_token(group).token
    key = pki.new_key()
    r = httpx.post(
        hub.url + schemas.EST_SIMPLEENROLL,
        content=schemas.csr_body(pki.make_csr(key, kiosk_id)),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": schemas.PKCS10_CONTENT_TYPE,
        },
        verify=ssl.create_default_context(cafile=str(hub.ca_path)),
        timeout=10,
    )
    if r.status_code != 200:
        raise RuntimeError(f"enrollment failed: {r.status_code} {r.text}")
    cert = schemas.load_pkcs7_certs_body(r.content)[0]
    files = DeviceFiles(
        kiosk_id=kiosk_id,
        key_path=dest / "device.key.pem",
        cert_path=dest / "device.crt.pem",
        ca_path=hub.ca_path,
        hub_url=hub.url,
    )
    pki.save_key(files.key_path, key)
    pki.save_cert(files.cert_path, cert)
    return files


def device_client(device: DeviceFiles, **kw: Any) -> httpx.Client:
    """An httpx client speaking mTLS as ``device`` to its hub."""
    kw.setdefault("timeout", 30)
    return httpx.Client(base_url=device.hub_url, verify=device.ssl_context(), **kw)


def tus_headers(**extra: str) -> dict[str, str]:
    return {"Tus-Resumable": schemas.TUS_VERSION, **extra}


def tus_create(c: httpx.Client, length: int, meta: dict[str, str]) -> httpx.Response:
    """``POST /files/``: a new upload of ``length`` bytes described by ``meta``."""
    return c.post(
        "/files/",
        headers=tus_headers(
            **{"Upload-Length": str(length), "Upload-Metadata": schemas.encode_tus_metadata(meta)}
        ),
    )


def tus_patch(c: httpx.Client, loc: str, offset: int, body: bytes, **extra: str) -> httpx.Response:
    """``PATCH`` ``body`` into the upload at ``loc`` from ``offset`` (``extra``: headers)."""
    return c.patch(
        loc,
        content=body,
        headers=tus_headers(
            **{"Upload-Offset": str(offset), "Content-Type": schemas.TUS_CONTENT_TYPE, **extra}
        ),
    )


@contextlib.contextmanager
def serve_in_thread(
    hub_dir: Path, store: Any = None, *, enroll_limiter: Any = None, **overrides: Any
) -> Iterator[HubProcess]:
    """The hub in a thread of the test process, for fault injection (e.g. a store that
    reports a full disk, an enrollment limiter on a test clock). Same uvicorn, TLS and app
    as the subprocess hub."""
    import threading

    import uvicorn

    from provisioning.hub.config import load_hub_settings
    from provisioning.hub.server import uvicorn_config

    port = free_port()
    settings = load_hub_settings(hub_dir, port=port, **overrides)
    config, service = uvicorn_config(
        settings, store=store, enroll_limiter=enroll_limiter, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    handle = HubProcess(dir=hub_dir, port=port, overrides=overrides)
    try:
        handle._wait_ready()
        yield handle
    finally:
        server.should_exit = True
        thread.join(15)
        service.close()


# -- PostgreSQL for the slow variants of the hub database tests ---------------------------------
@pytest.fixture
def postgres_server() -> Iterator[Any]:
    """A throw-away server (:class:`tests.support.postgres.PgServer`: its URL, data and log)."""
    from tests.support.postgres import PostgresUnavailable, temporary_postgres

    pytest.importorskip("psycopg")
    try:
        with temporary_postgres(fsync=False) as pg:  # raises only before it yields
            yield pg
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def postgres_url(postgres_server: Any) -> str:
    return str(postgres_server.url)
