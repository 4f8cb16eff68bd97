"""Enrollment tokens on the admin page: the groups there are offered, the tokens still open
are listed, and an operator withdraws one (a QR print left on a desk could still enroll a
kiosk). Over HTTPS against the real hub under uvicorn."""

from __future__ import annotations

import re

import pytest

from provisioning.hub.tokens import hash_token
from provisioning.schemas import parse_enroll_uri
from tests.support.admin import add_account, browser, csrf_of, sign_in
from tests.support.hub import enroll_test_device

pytestmark = pytest.mark.integration


def test_open_tokens_are_listed_and_an_operator_withdraws_one(hub, tmp_path):
    add_account(hub, tmp_path, "vh1", "operator")
    add_account(hub, tmp_path, "xem", "viewer")
    enroll_test_device(hub, "xa-an-binh", group="huyen-a")  # its token is used: not open
    with browser(hub) as c:
        sign_in(c, "vh1")
        page = c.get("/admin/tokens").text
        assert '<option value="huyen-a">' in page  # the groups there are, to pick from
        assert "Không có mã nào đang chờ dùng" in page
        made = c.post("/admin/tokens", data={"csrf": csrf_of(page), "group": "huyen-a"}).text
        uri = re.search(r"<code>(sohoa-enroll:[^<]+)</code>", made).group(1)
        secret_hash = hash_token(parse_enroll_uri(uri.replace("&amp;", "&")).token)
        assert f'data-token="{secret_hash[:12]}"' in made  # listed at once, under the QR
        r = c.post(
            "/admin/tokens/withdraw", data={"csrf": csrf_of(made), "token_hash": secret_hash}
        )
        assert r.status_code == 303 and r.headers["location"] == "/admin/tokens?withdrawn=1"
        after = c.get(r.headers["location"]).text
        assert "Đã thu hồi mã đăng ký" in after and secret_hash[:12] not in after
        again = c.post(
            "/admin/tokens/withdraw", data={"csrf": csrf_of(after), "token_hash": secret_hash}
        )
        assert again.status_code == 404 and "không còn hiệu lực" in again.text
    with browser(hub) as c:
        sign_in(c, "xem")
        page = c.get("/admin/tokens").text
        assert "Cán bộ vận hành mới được tạo mã" in page and 'action="/admin/tokens"' not in page
    db = hub.db()
    try:
        assert db.tokens.usable_token(secret_hash) is None  # it can no longer enroll
        created = [
            e for e in db.events.events("token_created") if e["detail"]["group"] == "huyen-a"
        ]
        withdrawn = db.events.events("token_withdrawn")
    finally:
        db.close()
    assert [e["detail"].get("by") for e in created][-1] == "admin:vh1"
    assert len([e for e in created if e["detail"].get("token") == secret_hash[:12]]) == 1
    assert [e["detail"]["by"] for e in withdrawn] == ["admin:vh1"]
