"""A fleet hub inside ``sohoa demo``, so the demo shows the whole uplink path.

Without a hub the demo's ordinary documents would only wait with "Máy chưa đăng ký". At
start the demo therefore creates (once) a hub directory in ``<data>/hub`` with the same code
as ``sohoa hub init``, serves it in a thread of the demo process with the same uvicorn,
TLS and mutual-TLS setup as ``sohoa hub run`` (:func:`provisioning.hub.server.uvicorn_config`),
and enrolls the demo kiosk through the real enrollment client (EST over TLS, CA pinned by
the token URI) when it is not enrolled with this hub yet. The uploader then delivers to it
like to a provincial hub, receipts and all.

The hub keeps the port it was created with, so the enrollment stays accurate across
restarts. When that port is taken by something else the hub listens on a free one and the
uplink is pointed there with the ``[uplink] hub_url`` override (in memory, for this run):
the kiosk's identity and certificate stay valid, since the hub's TLS certificate names
127.0.0.1 whatever the port. A demo data directory belongs to the demo hub: an identity
issued by another CA (for instance after ``<data>/hub`` was deleted) is replaced by a fresh
enrollment. The hub's libraries are the ``hub`` extra; without them the demo runs anyway
and its banner says why documents wait.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from firmware.errors import KioskError

if TYPE_CHECKING:
    from firmware.kiosk import Kiosk

log = logging.getLogger("sohoa.demo_hub")

HUB_NAME = "sohoa-demo-hub"
GROUP = "demo"
HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
#: The heartbeat interval the demo hub asks for (a provincial hub: 60 s).
HEARTBEAT_S = 5.0


def hub_dir(data_dir: Path | str) -> Path:
    return Path(data_dir).resolve() / "hub"


def _listen(port: int) -> socket.socket:
    """A bound loopback socket (uvicorn listens on it); port 0 = any free port. Binding
    here rather than in uvicorn tells at once, without a race, whether the port is ours."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError:
        sock.close()
        raise
    return sock


def _listen_preferring(port: int) -> socket.socket:
    try:
        return _listen(port)
    except OSError as exc:
        log.warning("demo hub port %d is taken (%s); using a free port", port, exc)
        return _listen(0)


@dataclass
class DemoHub:
    """The running demo hub: its settings, service and the uvicorn server thread."""

    settings: Any  # provisioning.hub.config.HubSettings
    service: Any  # provisioning.hub.service.HubService
    server: Any  # uvicorn.Server
    thread: threading.Thread

    @property
    def url(self) -> str:
        return str(self.settings.url)

    @property
    def objects_dir(self) -> Path:
        return Path(self.settings.objects_dir)

    def banner(self) -> str:
        return (
            f"Trung tâm mẫu / demo hub: {self.url} — tài liệu đã nhận / stored documents: "
            f"{self.objects_dir}"
        )

    def wait_started(self, timeout: float = START_TIMEOUT_S) -> None:
        end = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > end:
                self.stop()
                raise KioskError(
                    "demo_hub_failed",
                    f"The demo hub in {self.settings.dir} did not start.",
                    f"Trung tâm mẫu trong {self.settings.dir} không khởi động được.",
                    status=500,
                )
            time.sleep(0.02)

    def stop(self, timeout: float = 15) -> None:
        """Stop accepting, let running requests finish, close the hub's database."""
        self.server.should_exit = True
        self.thread.join(timeout)
        self.service.close()


def start_hub(data_dir: Path | str) -> DemoHub:
    """Create the demo hub directory on first use and serve it in a background thread.

    Raises ImportError when the ``hub`` extra is not installed."""
    import uvicorn

    from provisioning.hub.bootstrap import AlreadyInitialized, init_hub
    from provisioning.hub.config import CONFIG_NAME, HubConfigError, load_hub_settings
    from provisioning.hub.server import uvicorn_config

    d = hub_dir(data_dir)
    try:
        fresh = not (d / CONFIG_NAME).exists()
        sock = _listen(0) if fresh else _listen_preferring(load_hub_settings(d).port)
        try:
            port = sock.getsockname()[1]
            if fresh:
                init_hub(d, name=HUB_NAME, host=HOST, port=port)
            settings = load_hub_settings(d, host=HOST, port=port)
            # kiosks come back every few seconds, so a rollout's waves move while one watches
            fleet = settings.fleet.model_copy(update={"heartbeat_s": HEARTBEAT_S})
            settings = settings.model_copy(update={"fleet": fleet})
            config, service = uvicorn_config(
                settings, log_level="warning", log_config=None, access_log=False
            )
        except BaseException:
            sock.close()
            raise
    except (HubConfigError, AlreadyInitialized) as exc:  # a broken or half-made hub dir
        raise KioskError(
            "demo_hub_config", str(exc), f"Cấu hình trung tâm mẫu sai: {exc}", status=500
        ) from None
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="demo-hub", daemon=True
    )
    hub = DemoHub(settings=settings, service=service, server=server, thread=thread)
    thread.start()
    hub.wait_started()
    return hub


def connect_kiosk(kiosk: Kiosk, hub: DemoHub) -> str:
    """Make the kiosk's uplink deliver to ``hub``; return what was done, for the banner.

    Enrolls through :func:`firmware.uplink.identity.enroll` with a token minted here (the
    demo plays provincial IT) unless the kiosk already holds a certificate from this hub's
    CA; then points ``[uplink] hub_url`` at the hub when its port changed."""
    from firmware.uplink.client import UplinkError
    from firmware.uplink.identity import enroll, load_identity
    from firmware.uplink.qr import parse_enroll_uri
    from provisioning import schemas
    from provisioning.hub.pki import load_cert
    from provisioning.hub.tokens import mint_token

    ca_sha256 = schemas.cert_sha256(load_cert(hub.settings.ca_cert_path))
    kiosk_id = kiosk.settings.kiosk_id
    ident = load_identity(kiosk.paths)
    done = "đã đăng ký / already enrolled"
    if ident is None or ident.ca_sha256 != ca_sha256:

        def enroll_once() -> None:
            token = mint_token(hub.service.db.tokens, GROUP, 1, hub.url, ca_sha256)
            enroll(
                kiosk.paths,
                kiosk_id,
                parse_enroll_uri(token.uri),
                catalog=kiosk.catalog,
                actor="demo",
            )

        try:
            enroll_once()
        except UplinkError as exc:
            if exc.code != "device_exists":
                raise
            # The hub remembers this kiosk but the kiosk lost its identity (its identity
            # directory was removed): the demo's IT revokes the old one, reinstates the id
            # (what `sohoa hub device revoke` and `reinstate` do) and enrolls again.
            hub.service.db.devices.revoke(kiosk_id, "demo kiosk enrolled again")
            hub.service.db.devices.reinstate(kiosk_id, "demo kiosk enrolled again", by="demo")
            enroll_once()
        ident = load_identity(kiosk.paths)
        done = "vừa đăng ký / enrolled now"
    cfg = kiosk.settings.uplink
    if ident is not None and (cfg.hub_url or ident.hub_url) != hub.url:
        cfg.hub_url = hub.url  # this run only: the identity names the hub's earlier port
        done += f"; gửi tới / sending to {hub.url}"
    return done


def start_for_demo(kiosk: Kiosk) -> tuple[DemoHub | None, str]:
    """The demo's hub, enrolled and connected, and one banner line; (None, why) when it
    cannot run, in which case the demo goes on and ordinary documents wait in the queue."""
    try:
        hub = start_hub(kiosk.settings.data_dir)
    except ImportError as exc:
        missing = exc.name or str(exc)
        return None, (
            f"Trung tâm mẫu không chạy: thiếu thư viện {missing} (pip install 'sohoa[hub]'); "
            "tài liệu thường chờ trong hàng đợi. / Demo hub not started: "
            f"{missing} is missing (pip install 'sohoa[hub]'); ordinary documents wait "
            "in the upload queue."
        )
    except (OSError, KioskError) as exc:
        log.exception("demo hub did not start")
        return None, (
            f"Trung tâm mẫu không chạy ({exc}); tài liệu thường chờ trong hàng đợi. / "
            f"Demo hub not started ({exc}); ordinary documents wait in the upload queue."
        )
    try:
        done = connect_kiosk(kiosk, hub)
    except (OSError, KioskError) as exc:
        hub.stop()
        log.exception("demo kiosk could not enroll with the demo hub")
        return None, (
            f"Máy mẫu chưa đăng ký được với trung tâm mẫu ({exc}); tài liệu thường chờ gửi. / "
            f"The demo kiosk could not enroll with the demo hub ({exc}); ordinary documents "
            "wait in the upload queue."
        )
    return hub, f"{hub.banner()} ({done})"
