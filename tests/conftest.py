"""Shared fixtures: settings on a temporary data dir, a kiosk on the sim camera."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from firmware.config import Settings, load_settings
from tests.support.wait import wait_for  # noqa: F401  (tests/agent/ still import it from here)

# The hub fixtures (`hub`, `hub_factory`): a real hub over mTLS for any test.
pytest_plugins = ["tests.support.hub", "tests.support.seaweed"]

ROOT = Path(__file__).resolve().parent.parent

# Small frames keep the suite fast; the 12 MP path is covered by its own tests and bench.
SIM_W, SIM_H = 2400, 1800


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch):
    for k in list(os.environ):
        if k.startswith("SOHOA_"):
            monkeypatch.delenv(k, raising=False)


@pytest.fixture
def make_settings(tmp_path):
    def make(**overrides) -> Settings:
        overrides.setdefault("data_dir", str(tmp_path / "var"))
        overrides.setdefault("pedal", {"backend": "none"})
        overrides.setdefault("leds", {"backend": "none"})
        return load_settings(None, **overrides)

    return make


@pytest.fixture
def sim_camera_factory():
    from drivers.camera.sim import SimCamera

    def make(seed: int = 3, **kw):
        kw.setdefault("width", SIM_W)
        kw.setdefault("height", SIM_H)
        return SimCamera(seed=seed, **kw)

    return make


@pytest.fixture
def kiosk_factory(make_settings, sim_camera_factory):
    from firmware.kiosk import Kiosk

    made = []

    def make(camera=None, settings=None, **kw):
        k = Kiosk(settings or make_settings(), camera=camera or sim_camera_factory(), **kw)
        k.start()
        made.append(k)
        return k

    yield make
    for k in made:
        try:
            k.stop()
        except Exception:
            pass


def sohoa_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("sohoa")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-m", "firmware.cli.main"]


def run_sohoa(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 300, **kw
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
    full_env.update(env or {})
    return subprocess.run(
        sohoa_cmd() + args,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=ROOT,
        **kw,
    )


requires_pdftotext = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="poppler-utils not installed"
)
