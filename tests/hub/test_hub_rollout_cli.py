"""``sohoa hub rollout|window|tag`` as IT types them, asserting the hub's database."""

from __future__ import annotations

import json
from pathlib import Path

from provisioning.hub.config import load_hub_settings
from provisioning.hub.hub_db import HubDB
from provisioning.hub.rollouts import RolloutService
from tests.conftest import run_sohoa
from tests.hub.test_hub_rollouts import add_devices
from tests.support.hub import init_hub_dir

REL = [
    "--version",
    "1.2.0",
    "--target",
    "releases/sohoa-1.2.0.tar",
    "--sha256",
    "c" * 64,
    "--length",
    "5000",
]
PREV = [
    "--previous-version",
    "1.1.0",
    "--previous-target",
    "releases/sohoa-1.1.0.tar",
    "--previous-sha256",
    "d" * 64,
    "--previous-length",
    "4000",
]


def hub_db(d: Path) -> HubDB:
    db = HubDB(load_hub_settings(d).database_url)
    db.create_schema()
    return db


def test_rollout_commands_end_to_end(tmp_path: Path) -> None:
    d = init_hub_dir(tmp_path / "hub")
    db = hub_db(d)
    ids = add_devices(db, 300)
    sohoa = ["hub", "rollout", "--dir", str(d)]

    r = run_sohoa(
        [
            *sohoa[:2],
            "create",
            "--dir",
            str(d),
            *REL,
            *PREV,
            "--waves",
            "10:1h,100:1h",
            "--group",
            "g0",
            "--group",
            "g1",
        ]
    )
    assert r.returncode == 0, r.stderr
    rid = r.stdout.strip().rsplit(" ", 1)[-1]
    svc = RolloutService(db)
    ro = svc.get(rid)
    assert ro["release"]["sha256"] == "c" * 64 and ro["previous"]["version"] == "1.1.0"
    assert ro["target"]["groups"] == ["g0", "g1"] and [w["percent"] for w in ro["waves"]] == [
        10,
        100,
    ]

    listed = run_sohoa(["hub", "rollout", "list", "--dir", str(d), "--json"])
    assert [x["id"] for x in json.loads(listed.stdout)] == [rid]
    shown = json.loads(run_sohoa(["hub", "rollout", "show", rid, "--dir", str(d), "--json"]).stdout)
    assert shown["targeted"] == 150 and shown["wave_status"][1]["size"] == 150
    text = run_sohoa(["hub", "rollout", "show", rid, "--dir", str(d)]).stdout
    assert "đang chạy" in text and "committed" in text

    for action, state in (
        ("pause", "paused"),
        ("resume", "active"),
        ("advance", "active"),
        ("abort", "aborted"),
    ):
        r = run_sohoa(["hub", "rollout", action, rid, "--dir", str(d)])
        assert r.returncode == 0, r.stderr
        assert svc.get(rid)["state"] == state
    assert svc.get(rid)["wave"] == 1
    again = run_sohoa(["hub", "rollout", "resume", rid, "--dir", str(d)])
    assert again.returncode == 1 and "đã hủy" in again.stderr and "rollout_state" in again.stderr
    assert "Traceback" not in again.stderr

    missing = run_sohoa(["hub", "rollout", "create", "--dir", str(d), "--version", "2"])
    assert missing.returncode == 1 and "--sha256" in missing.stderr
    unknown = run_sohoa(["hub", "rollout", "show", "ro-nope", "--dir", str(d)])
    assert unknown.returncode == 1 and "Không có đợt triển khai" in unknown.stderr

    assert run_sohoa(["hub", "window", "g0", "22:00-05:00", "--dir", str(d)]).returncode == 0
    assert svc.windows() == {"g0": {"start": "22:00", "end": "05:00", "tz": "Asia/Ho_Chi_Minh"}}
    bad = run_sohoa(["hub", "window", "g0", "9-17", "--dir", str(d)])
    assert bad.returncode == 1 and "22:00-05:00" in bad.stderr
    assert run_sohoa(["hub", "tag", ids[0], "pilot", "--dir", str(d)]).returncode == 0
    assert svc.db.device(ids[0])["tags"] == {"pilot"}
    kinds = [e["kind"] for e in db.events.events() if e["kind"].startswith(("rollout_", "window_"))]
    assert kinds == [
        "rollout_created",
        "rollout_paused",
        "rollout_resumed",
        "rollout_advanced",
        "rollout_aborted",
        "window_set",
    ]
