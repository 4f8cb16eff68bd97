"""The admin page's configuration form and the fleet table's signs of a refused
configuration, over HTTPS against the real hub under uvicorn (no browser; the Chromium
walk-through is ``tests/e2e/test_hub_admin.py``). Found by trying the demo as IT staff: a
preview lost the group it was editing, a number field answered Python's own words, the diff
said ``None``, and a kiosk that refused a configuration looked healthy in the table."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from provisioning.fleet_schemas import (
    HEARTBEAT_PATH,
    JSON_TYPE,
    Disk,
    Heartbeat,
    Versions,
    dump_model,
)
from tests.support.admin import add_account, browser, csrf_of, sign_in
from tests.support.hub import device_client, enroll_test_device

pytestmark = pytest.mark.integration


def test_preview_keeps_its_group_and_says_what_is_wrong_in_both_languages(hub, tmp_path):
    from provisioning.hub.fleet_keys import init_keys
    from provisioning.hub.tuf_repo import ConfigRepository

    init_keys(tmp_path / "keys", ConfigRepository(hub.dir / "tuf"))
    add_account(hub, tmp_path, "it1", "administrator")
    enroll_test_device(hub, "xa-an-binh", group="huyen-a")
    with browser(hub) as c:
        sign_in(c, "it1")
        page = c.get("/admin/config?scope=group:huyen-a").text
        assert "Loại văn bản (MÃ=Tên; MÃ=Tên)" in page  # a label that says the format
        form = {"csrf": csrf_of(page), "scope": "group:huyen-a", "action": "preview"}
        bad = c.post(
            "/admin/config",
            data={**form, "metadata.document_types": "ĐA=Đề án", "ui.idle_timeout_s": "mười"},
        )
        assert bad.status_code == 200
        assert "ui.idle_timeout_s: cần một số" in bad.text and "must be a number" in bad.text
        assert "could not convert" not in bad.text
        assert 'value="group:huyen-a" selected' in bad.text  # still the group being edited
        good = c.post("/admin/config", data={**form, "metadata.document_types": "ĐA=Đề án"})
        diff = re.search(r'<table id="diff">.*?</table>', good.text, re.S).group(0)
        assert "ĐA=Đề án" in diff and "None" not in diff and "—" in diff
        assert 'value="group:huyen-a" selected' in good.text


def test_the_fleet_table_flags_a_refused_configuration_and_an_empty_filter(hub, tmp_path):
    add_account(hub, tmp_path, "xem", "viewer")
    dev = enroll_test_device(hub, "xa-an-lac", group="huyen-a")
    hb = Heartbeat(
        seq=1,
        at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        ver=Versions(app="0.9.0", os="Debian GNU/Linux 12 (bookworm)", cfg=11),
        disk=Disk(free=10**9, total=4 * 10**9),
        cfg_err="v12: metadata.document_types: entry 'x' must look like 'CODE=Name'",
    )
    with device_client(dev) as d:
        r = d.post(HEARTBEAT_PATH, content=dump_model(hb), headers={"Content-Type": JSON_TYPE})
        assert r.status_code == 200
    with browser(hub) as c:
        sign_in(c, "xem")
        page = c.get("/admin/").text
        row = re.search(r'<tr class="\w+" data-kiosk="xa-an-lac">.*?</tr>', page, re.S).group(0)
        assert "data-config-refused" in row and "từ chối cấu hình mới" in row
        assert "must look like" in row  # the reason, on hover
        empty = c.get("/admin/?q=khong-co-may-nay").text
        assert 'id="no-match"' in empty and "Không có máy nào khớp bộ lọc" in empty


def test_an_operator_sees_the_configuration_read_only(hub, tmp_path):
    from provisioning.hub.fleet_keys import init_keys
    from provisioning.hub.tuf_repo import ConfigRepository

    init_keys(tmp_path / "keys", ConfigRepository(hub.dir / "tuf"))
    add_account(hub, tmp_path, "vh1", "operator")
    with browser(hub) as c:
        sign_in(c, "vh1")
        page = c.get("/admin/config").text
        assert 'id="read-only"' in page and "quản trị viên mới được sửa" in page
        assert page.count('<fieldset class="card" disabled>') == page.count("<fieldset")
        assert 'value="preview"' not in page
        r = c.post("/admin/config", data={"csrf": csrf_of(page), "scope": "fleet"})
        assert r.status_code == 403  # and a forged post is refused, as before
