"""A group's name names files in the TUF repository and every kiosk's record: one rule
(``provisioning.hub.groups``) refuses a path or a blank where a token, the admin page or a
publish takes one. Found by trying the admin page: "Huyện Sơn Tịnh/../x" was accepted as a
token's group and a blank one silently became "default"."""

from __future__ import annotations

import pytest

from provisioning.hub.groups import GroupNameError, check_group
from provisioning.hub.tuf_repo import group_role, group_target
from tests.conftest import run_sohoa
from tests.support.admin import add_account, browser, csrf_of, sign_in

BAD = ["", "   ", "Huyện Sơn Tịnh", "x/../y", "../etc", "huyen-", "-a", "a_b", "A", "a" * 65]


@pytest.mark.parametrize("name", BAD)
def test_bad_group_names_are_refused_before_they_name_a_file(name):
    with pytest.raises(GroupNameError) as info:
        group_target(name)
    assert "huyen-son-tinh" in info.value.message_vi and info.value.status == 400
    with pytest.raises(GroupNameError):
        group_role(name)


def test_good_group_names_pass():
    for name in ("ba-dinh", "huyen-son-tinh", "g", "xa-01", "a" * 64):
        assert check_group(name) == name
    assert group_target("ba-dinh") == "config/groups/ba-dinh.json"


@pytest.mark.integration
def test_the_token_page_and_the_cli_refuse_a_bad_group(hub, tmp_path):
    add_account(hub, tmp_path, "vh1", "operator")
    with browser(hub) as c:
        sign_in(c, "vh1")
        csrf = csrf_of(c.get("/admin/tokens").text)
        for name in ("Huyện Sơn Tịnh/../x", "   "):
            r = c.post("/admin/tokens", data={"csrf": csrf, "group": name})
            assert r.status_code == 400 and "Tên nhóm" in r.text and "Traceback" not in r.text
        ok = c.post("/admin/tokens", data={"csrf": csrf, "group": "huyen-son-tinh"})
        assert ok.status_code == 200 and "<svg" in ok.text
    db = hub.db()
    try:
        from sqlalchemy import text

        with db.engine.connect() as conn:
            groups = [row[0] for row in conn.execute(text('SELECT "group" FROM tokens'))]
    finally:
        db.close()
    assert groups == ["huyen-son-tinh"]  # nothing of the refused ones was written
    r = run_sohoa(["hub", "token", "new", "--dir", str(hub.dir), "--group", "x/../y"])
    assert r.returncode != 0 and "bad_group" in r.stderr and "Traceback" not in r.stderr
