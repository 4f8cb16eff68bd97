"""The admin page's fleet table and revocation over plain HTTPS (no browser, no client
certificate), against the real hub under uvicorn on loopback: no anonymous access, the
filters (state, district/group, search) and the counts per district show what the hub's
database holds, and a kiosk an administrator revokes on its page is refused at its next
heartbeat, while a viewer's revoke is refused. (The Chromium walk-through with screenshots
is ``tests/e2e/test_hub_admin.py``.)"""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest

from provisioning.fleet_schemas import (
    HEARTBEAT_PATH,
    JSON_TYPE,
    Disk,
    Heartbeat,
    UploadQueue,
    Versions,
    dump_model,
)
from tests.conftest import run_sohoa
from tests.support.admin import PASSWORD, add_account, browser, sign_in
from tests.support.hub import device_client, enroll_test_device

pytestmark = pytest.mark.integration


def _heartbeat(dev, waiting: int) -> httpx.Response:
    hb = Heartbeat(
        seq=1,
        at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        ver=Versions(app="0.9.0", os="Debian GNU/Linux 12 (bookworm)"),
        disk=Disk(free=10**9, total=4 * 10**9),
        upq=UploadQueue(wait=waiting),
    )
    with device_client(dev) as c:
        return c.post(HEARTBEAT_PATH, content=dump_model(hb), headers={"Content-Type": JSON_TYPE})


def _rows(html: str) -> list[str]:
    return re.findall(r'data-kiosk="([^"]+)"', html)


def test_fleet_table_filters_counts_and_revocation(hub, tmp_path):
    add_account(hub, tmp_path, "it1", "administrator")
    add_account(hub, tmp_path, "xem", "viewer")
    a1 = enroll_test_device(hub, "xa-an-binh", group="huyen-a")
    a2 = enroll_test_device(hub, "xa-an-lac", group="huyen-a")
    enroll_test_device(hub, "xa-binh-minh", group="huyen-b")  # enrolled, never heard from
    assert _heartbeat(a1, waiting=4).status_code == 200
    assert _heartbeat(a2, waiting=0).status_code == 200

    with browser(hub) as c:
        # no anonymous access: every page sends to the sign-in form
        for path in ("/admin/", "/admin/kiosks/xa-an-binh", "/admin/tokens", "/admin/events"):
            r = c.get(path)
            assert r.status_code == 303, path
            assert r.headers["location"].split("?")[0] == "/admin/login", path
        # a deep link comes back to its page once signed in, never to another site
        r = c.get("/admin/kiosks/xa-an-lac?x=1")
        assert r.headers["location"] == "/admin/login?next=%2Fadmin%2Fkiosks%2Fxa-an-lac%3Fx%3D1"
        form = c.get(r.headers["location"]).text
        assert 'name="next" value="/admin/kiosks/xa-an-lac?x=1"' in form
        signed = c.post(
            "/admin/login",
            data={"username": "it1", "password": PASSWORD, "next": "/admin/kiosks/xa-an-lac"},
        )
        assert signed.status_code == 303 and signed.headers["location"] == "/admin/kiosks/xa-an-lac"
        for evil in ("https://evil.example/", "//evil.example/admin/", "/admin/\\evil"):
            r = c.post("/admin/login", data={"username": "it1", "password": PASSWORD, "next": evil})
            assert r.headers["location"] == "/admin/", evil
        sign_in(c, "it1")
        page = c.get("/admin/").text
        assert sorted(_rows(page)) == ["xa-an-binh", "xa-an-lac", "xa-binh-minh"]
        assert re.search(r'data-count="ok">2<', page) and re.search(r'data-count="never">1<', page)
        # counts per district (group): ok, late, offline, never
        assert re.search(r"<td>huyen-a</td><td>2</td><td>0</td><td>0</td><td>0</td>", page)
        assert re.search(r"<td>huyen-b</td><td>0</td><td>0</td><td>0</td><td>1</td>", page)
        assert _rows(c.get("/admin/?state=never").text) == ["xa-binh-minh"]
        assert sorted(_rows(c.get("/admin/?group=huyen-a").text)) == ["xa-an-binh", "xa-an-lac"]
        assert _rows(c.get("/admin/?q=LAC").text) == ["xa-an-lac"]
        # one kiosk's page, then revoke it as an administrator
        kiosk = c.get("/admin/kiosks/xa-an-lac").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', kiosk).group(1)
        r = c.post("/admin/kiosks/xa-an-lac/revoke", data={"csrf": csrf, "reason": "mất máy"})
        assert r.status_code == 303
    r = _heartbeat(a2, waiting=0)
    assert r.status_code in (401, 403) and r.json()["error"]["code"] == "device_revoked"
    assert _heartbeat(a1, waiting=4).status_code == 200  # the others are untouched

    with browser(hub) as c:  # a viewer may look but not revoke
        sign_in(c, "xem")
        kiosk = c.get("/admin/kiosks/xa-an-binh").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', kiosk).group(1)
        r = c.post("/admin/kiosks/xa-an-binh/revoke", data={"csrf": csrf, "reason": "x"})
        assert r.status_code == 403 and "không có quyền" in r.text
    assert _heartbeat(a1, waiting=4).status_code == 200


def test_a_refused_command_or_a_stale_form_is_a_page_that_says_why(hub, tmp_path):
    """Forged or stale form posts (a kind the agent does not run, a kiosk that is not
    enrolled, a CSRF token of an earlier sign-in) answer a page in both languages with a
    4xx status: no traceback, no command queued."""
    add_account(hub, tmp_path, "vh1", "operator")
    enroll_test_device(hub, "xa-an-binh", group="huyen-a")
    with browser(hub) as c:
        sign_in(c, "vh1")
        old = re.search(r'name="csrf" value="([^"]+)"', c.get("/admin/kiosks/xa-an-binh").text)
        csrf = old.group(1)
        r = c.post("/admin/kiosks/xa-an-binh/command", data={"csrf": csrf, "kind": "format_disk"})
        assert r.status_code == 400 and "Không có lệnh &#39;format_disk&#39;" in r.text
        assert "doctor" in r.text  # the page names the commands there are
        r = c.post("/admin/kiosks/no-such/command", data={"csrf": csrf, "kind": "doctor"})
        assert r.status_code == 404 and "Không có máy &#39;no-such&#39;" in r.text
        sign_in(c, "vh1")  # a new session: the page loaded before holds a stale token
        r = c.post("/admin/kiosks/xa-an-binh/command", data={"csrf": csrf, "kind": "doctor"})
        assert r.status_code == 403 and "tải lại trang" in r.text
    db = hub.db()
    try:
        from provisioning.hub.commands import CommandService

        assert CommandService(db).list("xa-an-binh") == []
    finally:
        db.close()


# --- accounts on the command line: unlock, add of an existing user -------------------------
# (no server needed: the CLI and the sign-in share the hub's database)


def _admin_cli(hub, *args: str):
    return run_sohoa(["fleet", "admin", *args, "--dir", str(hub.dir)])


def _sign_in_api(hub, user: str, password: str) -> str:
    """The sign-in the login form runs (``Accounts.sign_in``); the AccountError's code."""
    from provisioning.hub.admin.accounts import AccountError, Accounts

    db = hub.db()
    try:
        Accounts(db.engine).sign_in(user, password)
        return "ok"
    except AccountError as exc:
        return exc.code
    finally:
        db.close()


def _accounts(hub) -> dict[str, dict]:
    r = _admin_cli(hub, "list")
    assert r.returncode == 0, r.stderr
    import json

    return {a["username"]: a for a in json.loads(r.stdout)}


def _lock(hub, user: str) -> None:
    from provisioning.hub.admin.accounts import MAX_FAILURES

    for _ in range(MAX_FAILURES - _accounts(hub)[user]["failures"]):  # the ones left
        assert _sign_in_api(hub, user, "sai-mat-khau-123") == "bad_credentials"
    assert _sign_in_api(hub, user, PASSWORD) == "locked"  # even the right password


def test_unlock_lets_a_locked_out_account_sign_in_again(hub_factory, tmp_path):
    hub = hub_factory(start=False)
    add_account(hub, tmp_path, "it1", "administrator")
    _lock(hub, "it1")
    acct = _accounts(hub)["it1"]
    assert acct["locked"] is True and acct["locked_until"]

    r = _admin_cli(hub, "unlock", "it1")
    assert r.returncode == 0, r.stderr
    assert "Đã mở khóa tài khoản" in r.stdout and "unlocked account it1" in r.stdout
    assert _accounts(hub)["it1"]["locked"] is False
    assert _sign_in_api(hub, "it1", PASSWORD) == "ok"
    db = hub.db()
    try:
        assert [e["detail"]["username"] for e in db.events.events("admin_unlock")] == ["it1"]
    finally:
        db.close()

    r = _admin_cli(hub, "unlock", "nobody")
    assert r.returncode != 0
    assert "Không có tài khoản 'nobody'" in r.stderr and "no account 'nobody'" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_add_refuses_an_existing_account_unless_reset(hub_factory, tmp_path):
    hub = hub_factory(start=False)
    add_account(hub, tmp_path, "xem", "viewer")  # full name "Cán bộ xem"
    other = tmp_path / "other.pw"
    other.write_text("mat-khau-moi-dai-2")

    # again without --reset: refused, nothing changed (name, role, password)
    r = _admin_cli(hub, "add", "xem", "--role", "administrator", "--password-file", str(other))
    assert r.returncode != 0 and "--reset" in r.stderr
    assert "đã có" in r.stderr and "already exists" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    acct = _accounts(hub)["xem"]
    assert (acct["name"], acct["role"]) == ("Cán bộ xem", "viewer")
    assert _sign_in_api(hub, "xem", PASSWORD) == "ok"
    assert _sign_in_api(hub, "xem", "mat-khau-moi-dai-2") == "bad_credentials"

    # with --reset: new password and role, the name kept, the lock cleared
    _lock(hub, "xem")
    r = _admin_cli(
        hub, "add", "xem", "--reset", "--role", "operator", "--password-file", str(other)
    )
    assert r.returncode == 0, r.stderr
    acct = _accounts(hub)["xem"]
    assert (acct["name"], acct["role"], acct["locked"]) == ("Cán bộ xem", "operator", False)
    assert _sign_in_api(hub, "xem", "mat-khau-moi-dai-2") == "ok"
    assert _sign_in_api(hub, "xem", PASSWORD) == "bad_credentials"

    # --reset with --name changes the name (the role, not given, is kept); --reset of a user
    # that does not exist is refused rather than created
    r = _admin_cli(
        hub, "add", "xem", "--reset", "--name", "Trần Văn Xem", "--password-file", str(other)
    )
    assert r.returncode == 0, r.stderr
    acct = _accounts(hub)["xem"]
    assert (acct["name"], acct["role"]) == ("Trần Văn Xem", "operator")
    r = _admin_cli(hub, "add", "xme", "--reset", "--password-file", str(other))
    assert r.returncode != 0 and "no account 'xme'" in r.stderr
    assert "xme" not in _accounts(hub)


def test_kiosk_page_shows_doctor_checks_and_serves_the_log_bundle(hub, tmp_path):
    """A finished doctor command lists its checks (a failed one marked, with its fix); a
    finished collect_logs command links to its bundle, which an operator downloads as the
    very bytes the hub stored, a viewer may not, and an unknown command is a 404 page."""
    import hashlib
    import io
    import tarfile

    from provisioning.fleet_schemas import COMMAND_RESULT_PATH, CommandResult
    from provisioning.hub.commands import CommandService
    from tests.support.hub import tus_create, tus_patch

    add_account(hub, tmp_path, "vh1", "operator")
    add_account(hub, tmp_path, "xem", "viewer")
    dev = enroll_test_device(hub, "xa-an-binh", group="huyen-a")
    assert _heartbeat(dev, waiting=0).status_code == 200
    db = hub.db()
    try:
        svc = CommandService(db)
        doctor = svc.create("xa-an-binh", "doctor", by="test")["id"]
        logs = svc.create("xa-an-binh", "collect_logs", by="test")["id"]
    finally:
        db.close()

    # the kiosk's side, as the agent does it: the bundle through tus, then both results
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        text = b"22:00 camera ok\n22:01 page sealed\n"
        info = tarfile.TarInfo("logs/sohoa.log")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    bundle = buf.getvalue()
    sha = hashlib.sha256(bundle).hexdigest()
    doc = f"logs-xa-an-binh-{logs}"
    meta = {"filename": f"{doc}.tar.gz", "sha256": sha, "document_id": doc, "kind": "log_bundle"}
    checks = [
        {"name": "disk", "ok": True, "detail_en": "12 GB free", "detail_vi": "Còn trống 12 GB"},
        {
            "name": "camera",
            "ok": False,
            "detail_en": "no camera found",
            "detail_vi": "Không thấy máy ảnh",
            "fix_en": "plug the camera's USB cable back in",
            "fix_vi": "Cắm lại cáp USB của máy ảnh",
        },
    ]
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with device_client(dev) as c:
        loc = tus_create(c, len(bundle), meta).headers["Location"]
        assert tus_patch(c, loc, 0, bundle).status_code == 204
        receipt = c.get(loc + "/receipt").json()
        output = {"document_id": doc, "sha256": sha, "size": len(bundle)}
        results = {
            doctor: CommandResult(status="done", output={"checks": checks}, finished_at=now),
            logs: CommandResult(
                status="done", output={**output, "stored_as": receipt["stored_as"]}, finished_at=now
            ),
        }
        for cid, result in results.items():
            r = c.post(
                COMMAND_RESULT_PATH.format(id=cid),
                content=dump_model(result),
                headers={"Content-Type": JSON_TYPE},
            )
            assert r.status_code == 204, r.text
    stored = (hub.settings().objects_dir / receipt["stored_as"]).read_bytes()
    assert stored == bundle

    link = f"/admin/kiosks/xa-an-binh/commands/{logs}/bundle"
    with browser(hub) as c:
        sign_in(c, "vh1")
        page = c.get("/admin/kiosks/xa-an-binh")
        assert page.status_code == 200
        html = page.text
        assert 'data-check="disk"' in html and 'data-check="camera"' in html
        assert re.search(r'<li class="error" data-check="camera">', html)
        assert "Cắm lại cáp USB của máy ảnh" in html and "plug the camera" in html
        assert "Không thấy máy ảnh" in html and "12 GB free" in html
        assert f'href="{link}"' in html and "Tải nhật ký" in html
        assert receipt["stored_as"] not in html  # the link, not the raw key
        assert html.count("(doctor)") == 2  # once in the select, once in the table
        assert "Kiểm tra máy (doctor) (doctor)" not in html
        r = c.get(link)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/gzip"
        cd = r.headers["content-disposition"]
        assert cd.startswith("attachment") and f"logs-xa-an-binh-{logs}.tar.gz" in cd
        assert r.content == stored
        with tarfile.open(fileobj=io.BytesIO(r.content), mode="r:gz") as tar:
            assert b"22:01 page sealed" in tar.extractfile("logs/sohoa.log").read()
        misses = (
            "/admin/kiosks/xa-an-binh/commands/no-such-command/bundle",
            f"/admin/kiosks/xa-an-binh/commands/{doctor}/bundle",  # no bundle
            f"/admin/kiosks/xa-other/commands/{logs}/bundle",  # another kiosk's path
        )
        for path in misses:
            r = c.get(path)
            assert r.status_code == 404, path
            assert "Không có gói nhật ký này" in r.text and "No such log bundle" in r.text
            assert "Traceback" not in r.text
        assert "Traceback" not in html

    with browser(hub) as c:  # a viewer sees the checks, but may not download
        assert c.get(link).status_code == 303  # not signed in: to the sign-in form
        sign_in(c, "xem")
        html = c.get("/admin/kiosks/xa-an-binh").text
        assert "Cắm lại cáp USB của máy ảnh" in html and f'href="{link}"' not in html
        r = c.get(link)
        assert r.status_code == 403 and "không có quyền" in r.text
        assert "Traceback" not in r.text
    assert "Traceback" not in (hub.log_path.read_text(errors="replace"))
    db = hub.db()
    try:  # who took the kiosk's logs, once: the viewer's refused try took nothing
        taken = db.events.events("log_bundle_downloaded", kiosk_id="xa-an-binh")
    finally:
        db.close()
    assert [(e["detail"]["by"], e["detail"]["bytes"]) for e in taken] == [("vh1", len(stored))]
