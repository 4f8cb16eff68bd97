"""The demo seals signed with its demo key, and the document screen says whether the
signature is valid and whose it is, checked by pyHanko on the file itself (issue 16)."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware.demo.signing import CN_SIGNER, signing_overrides
from tests.support.ui import requires_browser, sign_in, start_live_kiosk

pytestmark = [pytest.mark.integration, requires_browser]


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("signed-kiosk")
    lk = start_live_kiosk(tmp, signing=signing_overrides(tmp))
    k = lk.kiosk
    doc = k.new_document("1001")
    k.capture("1001", doc["id"])
    k.finish(doc["id"], "1001")
    assert k.wait_idle(240)
    k.seal(doc["id"], "1001", title="Công văn ký số", metadata={"confidentiality": "thuong"})
    yield lk, doc["id"]
    lk.stop()


def test_the_document_screen_shows_a_valid_signature_and_a_broken_one(signed, page):
    lk, doc_id = signed
    sign_in(page, lk.url)
    page.goto(lk.url + f"/documents/{doc_id}")
    assert page.get_attribute("#signature", "data-state") == "valid"
    text = page.inner_text("#signature")
    assert "Chữ ký số hợp lệ" in text and CN_SIGNER in text
    # one changed byte inside the signed range: the same screen says it is not valid
    pdf = lk.kiosk.catalog.get_document(doc_id)["pdf_path"]
    data = bytearray(Path(pdf).read_bytes())
    at = data.index(b"/Producer") + 2
    data[at] ^= 0x01
    Path(pdf).write_bytes(bytes(data))
    page.reload()
    assert page.get_attribute("#signature", "data-state") == "invalid"
    assert "KHÔNG hợp lệ" in page.inner_text("#signature")
