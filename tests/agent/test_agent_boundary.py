"""The boundary between the kiosk service and the fleet agent, which run as two users on the
image (``sohoa`` and ``sohoa-agent``, sharing only the group ``sohoa-link``).

With root (this machine's CI), the kiosk and the agent really run as two uids (``setpriv``),
on directories laid out with the owners and modes of the image's ``data-layout`` script and
the kiosk service's ``UMask=0077``: the agent heartbeats with the upload queue and audit
head the kiosk published, renews the certificate the kiosk then uses, hands over its audit
records and an applied configuration the kiosk reads, and cannot open the catalog or list
the documents. Without root, the modes and the agent's imports are checked instead.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware.fleet import link
from firmware.fleet.config import CURRENT, config_dir
from firmware.store.catalog import Catalog
from firmware.store.paths import DataPaths
from firmware.uplink import identity as idm
from firmware.uplink.identity import enroll
from firmware.uplink.qr import parse_enroll_uri
from provisioning.agent.agent import Agent
from tests.conftest import ROOT
from tests.support.fleet import audit_actions, kiosk_round

pytestmark = pytest.mark.integration
KIOSK = "kiosk-two-users"
LAYOUT = ROOT / "image-build/rootfs/usr/lib/sohoa/data-layout"
KIOSK_UID, AGENT_UID, LINK_GID = 1901, 1902, 1904  # unused ids on this machine
OWNERS = {"sohoa": KIOSK_UID, "sohoa-agent": AGENT_UID, "sohoa-link": LINK_GID}


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def layout_entries() -> dict[str, tuple[str, str, int]]:
    """The image's data-layout lines for the two services: path under /data -> owner,
    group, mode (what the boot script really applies)."""
    out = {}
    for m in re.finditer(
        r'^mk "\$D/(sohoa[^"]*)" (\S+):(\S+) (\d+)$', LAYOUT.read_text(), re.MULTILINE
    ):
        out[m.group(1)] = (m.group(2), m.group(3), int(m.group(4), 8))
    return out


def test_the_image_layout_gives_the_modes_the_link_module_expects():
    entries = layout_entries()
    assert entries == {
        "sohoa": ("sohoa", link.LINK_GROUP, link.DATA_DIR_MODE),
        "sohoa/run": ("sohoa", link.LINK_GROUP, link.SHARED_DIR_MODE),
        "sohoa/identity": ("sohoa", link.LINK_GROUP, link.COMMON_DIR_MODE),
        "sohoa-agent": ("sohoa-agent", link.LINK_GROUP, link.SHARED_DIR_MODE),
    }
    # nothing but the owner gets into the kiosk's data dir beyond passing through
    assert link.DATA_DIR_MODE & 0o047 == 0
    units = ROOT / "image-build/systemd"
    agent_unit = (units / "sohoa-agent.service").read_text()
    kiosk_unit = (units / "sohoa.service").read_text()
    assert re.search(r"^SupplementaryGroups=sohoa-link$", agent_unit, re.MULTILINE)
    assert re.search(r"^SupplementaryGroups=.*\bsohoa-link\b", kiosk_unit, re.MULTILINE)
    rw = re.search(r"^ReadWritePaths=(.*)$", agent_unit, re.MULTILINE).group(1).split()
    assert "/var/lib/sohoa" not in rw and "/var/lib/sohoa/identity" in rw
    toml = (ROOT / "image-build/rootfs/etc/sohoa/sohoa.toml.in").read_text()
    assert 'state_dir = "/var/lib/sohoa-agent"' in toml


def test_the_agent_asks_root_for_restart_and_reboot_through_path_units(tmp_path):
    """No privilege and no polkit: each OS action is one request file a root path unit
    watches, and that unit's service runs exactly that action."""
    from provisioning.agent.system import OS_REQUESTS, SystemdSystem, os_request_path

    units = ROOT / "image-build/systemd"
    image_state = Path("/var/lib/sohoa-agent")  # the image's [agent] state_dir
    for name, action in OS_REQUESTS.items():
        stem = {"restart-service": "restart", "reboot": "reboot"}[name]
        path_unit = (units / f"sohoa-agent-{stem}.path").read_text()
        watched = re.search(r"^PathChanged=(.*)$", path_unit, re.MULTILINE).group(1)
        assert watched == str(os_request_path(image_state, name))
        assert re.search(rf"^Unit=sohoa-agent-{stem}\.service$", path_unit, re.MULTILINE)
        service = (units / f"sohoa-agent-{stem}.service").read_text()
        exec_start = re.search(r"^ExecStart=(.*)$", service, re.MULTILINE).group(1)
        assert exec_start.replace("/bin/", "") == action
    hook = (ROOT / "image-build/hooks/customize20-kiosk").read_text()
    assert "sohoa-agent-restart.path" in hook and "sohoa-agent-reboot.path" in hook
    # what the agent does: write the request, readable by nobody but the link group
    SystemdSystem(tmp_path).reboot()
    req = os_request_path(tmp_path, "reboot")
    assert req.exists() and _mode(req) == link.SHARED_FILE_MODE


def _agent_modules() -> Iterator[tuple[str, ast.AST]]:
    for path in sorted((ROOT / "provisioning/agent").rglob("*.py")):
        yield str(path.relative_to(ROOT)), ast.parse(path.read_text(encoding="utf-8"))


def test_no_agent_code_opens_the_catalog_or_runs_the_doctor_checks():
    """The agent's user cannot open them; a module that tried would only fail on the image."""
    forbidden = {"firmware.store.catalog", "firmware.uplink.outbox", "firmware.doctor"}
    found = []
    for name, tree in _agent_modules():
        for node in ast.walk(tree):
            mods: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            found += [f"{name}: {m}" for m in mods if m in forbidden]
            if isinstance(node, ast.Attribute) and node.attr == "catalog":
                found.append(f"{name}:{node.lineno}: .catalog")
    assert found == []


def test_files_the_two_sides_share_have_deliberate_modes(hub, make_settings):
    """Same user here, but every file and directory gets the mode the boundary needs."""
    settings = make_settings(kiosk_id=KIOSK, uplink={"renew_fraction": 1e-9})
    paths = DataPaths(settings.data_dir).ensure()
    catalog = Catalog(paths.catalog)
    try:
        enroll(paths, KIOSK, parse_enroll_uri(hub.mint_token().uri), catalog=catalog)
        kiosk_round(settings, catalog, devices={"camera": True})
        agent = Agent(settings)
        try:
            agent.step()  # renews (renew_fraction ~ 0), heartbeats, audits the renewal
        finally:
            agent.close()
        assert agent.status == "ok"
        d = idm.identity_dir(paths)
        assert _mode(d) == link.COMMON_DIR_MODE
        for f in (idm.KEY_NAME, idm.CERT_NAME, idm.CA_NAME, idm.HUB_NAME):
            assert _mode(d / f) == link.SHARED_FILE_MODE, f
        assert _mode(link.run_dir(paths)) == link.SHARED_DIR_MODE
        assert _mode(link.kiosk_status_path(paths)) == link.SHARED_FILE_MODE
        state = agent.state_dir
        assert state == Path(settings.data_dir).absolute().with_name("var-agent")
        assert _mode(state) == link.SHARED_DIR_MODE
        assert _mode(state / "state.json") == link.PRIVATE_FILE_MODE
        assert _mode(state / "updates") == link.PRIVATE_DIR_MODE
        records = sorted((state / "audit").iterdir())
        assert records and all(_mode(p) == link.SHARED_FILE_MODE for p in records)
        # nothing of the agent's went into the kiosk's data dir
        assert not (paths.root / "agent").exists()
        assert audit_actions(settings, catalog, "uplink.renewed")
        taken = kiosk_round(settings, catalog)["agent_audit_taken"]
        assert taken == len(records)
        agent = Agent(settings)
        try:
            agent.step()  # learns what the kiosk took over and drops those records
        finally:
            agent.close()
        left = [int(p.stem) for p in (state / "audit").iterdir()]
        assert left and min(left) > taken  # only this poll's renewal is left to take over
        assert len(audit_actions(settings, catalog, "uplink.renewed")) == 2  # each once
    finally:
        catalog.close()


# -- two real users ------------------------------------------------------------------------

two_users = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="running as two users needs root and setpriv",
)


def _as(uid: int, code: str, env: dict[str, str], timeout: float = 120):
    """Run Python ``code`` as ``uid`` (its own primary group plus the link group) with the
    units' ``UMask=0077``. setpriv executes the interpreter itself: this machine's Python
    lives under root's home, which a shell running as another uid may not search."""
    cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", f"--groups={LINK_GID}", "--"]
    code = "import os\nos.umask(0o077)\n" + textwrap.dedent(code)
    return subprocess.run(
        [*cmd, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
    )


AGENT_ONCE = """
    import sys
    from firmware.cli.main import main
    sys.argv = ["sohoa", "agent", "--once"]
    sys.exit(main())
"""


@pytest.fixture
def two_user_kiosk(hub) -> Iterator[dict]:
    base = Path(tempfile.mkdtemp(prefix="sohoa-two-users-"))
    os.chmod(base, 0o755)  # like /var/lib: anyone may pass
    try:
        data, state = base / "sohoa", base / "sohoa-agent"
        for rel, (owner, group, mode) in layout_entries().items():  # what data-layout does
            p = base / rel
            p.mkdir()
            os.chown(p, OWNERS[owner], OWNERS[group])
            os.chmod(p, mode)
        (base / "home").mkdir(mode=0o777)
        releases = base / "releases"
        releases.mkdir()
        os.chown(releases, AGENT_UID, AGENT_UID)
        cfg = base / "sohoa.toml"
        cfg.write_text(
            f'data_dir = "{data}"\nkiosk_id = "{KIOSK}"\n'
            '[pedal]\nbackend = "none"\n[leds]\nbackend = "none"\n'
            "[uplink]\nrenew_fraction = 1e-9\nconnect_timeout_s = 3\nio_timeout_s = 10\n"
            f'[agent]\nstate_dir = "{state}"\nsystem = "recording"\n'
            f'[updates]\nrelease_root = "{releases}"\n',
            encoding="utf-8",
        )
        os.chmod(cfg, 0o644)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
        env.update(HOME=str(base / "home"), SOHOA_CONFIG=str(cfg), PYTHONDONTWRITEBYTECODE="1")
        yield {"base": base, "data": data, "state": state, "cfg": cfg, "env": env, "hub": hub}
    finally:
        shutil.rmtree(base, ignore_errors=True)


KIOSK_ROUND = """
    import json, sys
    from firmware.config import load_settings
    from firmware.store.catalog import Catalog
    from firmware.store.paths import DataPaths
    from tests.support.fleet import kiosk_round
    s = load_settings(None)
    cat = Catalog(DataPaths(s.data_dir).ensure().catalog)
    status = kiosk_round(s, cat, devices={"camera": True, "ocr": True})
    print(json.dumps({"status": status, "audit": [a["action"] for a in cat.audit_records()]}))
"""


@two_users
def test_kiosk_and_agent_as_two_users_share_exactly_what_they_must(two_user_kiosk):
    t = two_user_kiosk
    env, data, state, hub = t["env"], t["data"], t["state"], t["hub"]
    uri = hub.mint_token("huyen-b").uri

    # the kiosk (uid sohoa) enrolls, has one document waiting for upload, publishes its status
    r = _as(
        KIOSK_UID,
        f"""
        from firmware.config import load_settings
        from firmware.store.catalog import Catalog
        from firmware.store.paths import DataPaths
        from firmware.uplink.identity import enroll
        from firmware.uplink.outbox import route_sealed
        from firmware.uplink.qr import parse_enroll_uri
        from tests.support import uplink as fakes
        s = load_settings(None)
        paths = DataPaths(s.data_dir).ensure()
        cat = Catalog(paths.catalog)
        enroll(paths, s.kiosk_id, parse_enroll_uri({uri!r}), catalog=cat)
        route_sealed(cat, fakes.sealed_document(cat, paths, size=4000), "clerk")
        """,
        env,
    )
    assert r.returncode == 0, r.stderr
    r = _as(KIOSK_UID, KIOSK_ROUND, env)
    assert r.returncode == 0, r.stderr
    published = json.loads(r.stdout)["status"]
    assert published["upload_queue"]["wait"] == 1
    assert _mode(data / "catalog.db") == 0o600  # UMask=0077, as the unit has it
    serial_before = idm.load_identity(DataPaths(data)).cert.serial_number

    # the agent (uid sohoa-agent): one poll renews the certificate and heartbeats
    r = _as(AGENT_UID, AGENT_ONCE, env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["status"] == "ok"
    db = hub.db()
    try:
        from provisioning.hub.fleet_db import FleetDB

        body = FleetDB(db.engine).latest(KIOSK)[KIOSK]["body"]
    finally:
        db.close()
    assert body["upq"]["wait"] == 1 and body["audit"] == published["audit_head"]
    assert body["dev"]["service"] is True and body["dev"]["camera"] is True

    # what the agent wrote is its own, in the modes the kiosk can read
    cert = idm.identity_dir(DataPaths(data)) / idm.CERT_NAME
    assert cert.stat().st_uid == AGENT_UID and cert.stat().st_gid == LINK_GID
    assert (state / "state.json").stat().st_uid == AGENT_UID
    assert _mode(state / "state.json") == 0o600
    assert not (data / "agent").exists()

    # the agent cannot read the catalog, list the data dir or enter the documents
    cat_path, cat_uri = str(data / "catalog.db"), f"file:{data / 'catalog.db'}?mode=ro"
    r = _as(
        AGENT_UID,
        f"""
        import os, sqlite3
        for what in ("open", "list", "spool", "sqlite"):
            try:
                if what == "open":
                    open({cat_path!r}, "rb")
                elif what == "list":
                    os.listdir({str(data)!r})
                elif what == "spool":
                    os.listdir({str(data / "spool")!r})
                else:
                    sqlite3.connect({cat_uri!r}, uri=True).execute("SELECT 1 FROM audit")
                print(what, "allowed")
            except (PermissionError, sqlite3.Error) as exc:
                print(what, "refused", type(exc).__name__)
        """,
        env,
    )
    assert r.returncode == 0, r.stderr
    assert "allowed" not in r.stdout and r.stdout.count("refused") == 4, r.stdout

    # the agent applies a configuration; the kiosk reads it
    r = _as(
        AGENT_UID,
        """
        from firmware.config import load_settings
        from firmware.fleet.config import write_applied
        from firmware.fleet.link import agent_state_dir
        write_applied(agent_state_dir(load_settings(None)), 7, {"ui": {"idle_warning_s": 21}})
        """,
        env,
    )
    assert r.returncode == 0, r.stderr
    assert (config_dir(state) / CURRENT).stat().st_uid == AGENT_UID

    # the kiosk: uses the renewed identity, takes over the agent's audit records, sees v7
    r = _as(
        KIOSK_UID,
        """
        import json
        from firmware.config import load_settings
        from firmware.fleet.config import effective_settings
        from firmware.fleet.link import agent_state_dir
        from firmware.store.paths import DataPaths
        from firmware.uplink.identity import load_identity
        s = load_settings(None)
        ident = load_identity(DataPaths(s.data_dir))
        eff, version = effective_settings(s, agent_state_dir(s))
        ident.ssl_context()  # the key is readable for mutual TLS
        print(json.dumps({"serial": ident.cert.serial_number, "version": version,
                          "idle": eff.ui.idle_warning_s}))
        """,
        env,
    )
    assert r.returncode == 0, r.stderr
    seen = json.loads(r.stdout)
    assert seen["serial"] != serial_before
    assert seen["version"] == 7 and seen["idle"] == 21
    r = _as(KIOSK_UID, KIOSK_ROUND, env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert "uplink.renewed" in out["audit"]
    assert out["status"]["agent_audit_taken"] >= 1

    # the agent's next poll drops the records the kiosk took over (it renews once more)
    r = _as(AGENT_UID, AGENT_ONCE, env)
    assert r.returncode == 0, r.stdout + r.stderr
    left = [int(p.stem) for p in (state / "audit").iterdir()]
    assert min(left) > out["status"]["agent_audit_taken"]


@two_users
def test_agent_commands_run_as_root_refuse_the_agents_directory(two_user_kiosk):
    """IT at the console as root would leave root-owned 0600 files the agent cannot read."""
    from tests.conftest import run_sohoa

    r = run_sohoa(["--config", str(two_user_kiosk["cfg"]), "agent", "--once"])
    assert r.returncode != 0
    assert "runuser -u sohoa-agent" in r.stderr and "người dùng" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (two_user_kiosk["state"] / "state.json").exists()
