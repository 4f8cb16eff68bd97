"""The register in the touchscreen's API and Progress screen: import from a (simulated)
USB stick with progress, rejected rows, candidates on review, custody, progress data."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from drivers.usb.sim import create_stick
from firmware.register.importer import import_register
from kiosk_ui.app import create_app
from kiosk_ui.context import UiOptions
from tests.support.register import sample_rows, write_csv
from tests.support.wait import wait_for


@pytest.fixture
def app(kiosk_factory, make_settings):
    kiosk = kiosk_factory(settings=make_settings(selection={"periods": "2022"}), workers=1)
    application = create_app(kiosk, UiOptions(idle_timeout_s=60))
    ops = application.state.ui.operators
    ops.add("1001", "Nguyễn Thị Lan", "operator", "1234", "test")
    ops.add("2001", "Trần Văn Minh", "archivist", "2468", "test")
    return application


def client_for(app, code, pin, lang="vi") -> TestClient:
    c = TestClient(app, base_url="http://127.0.0.1")
    assert (
        c.post("/api/v1/session/login", json={"code": code, "pin": pin, "lang": lang}).status_code
        == 200
    )
    return c


def test_archivist_imports_a_register_from_a_usb_stick_with_progress_and_report(app):
    kiosk = app.state.ui.kiosk
    stick = create_stick(kiosk.paths.root / "usb-sim", "stick1", serial="S1")
    rows = sample_rows(2500)
    rows.append([9999, "5-NQ/TU", "32/01/2021", "Tỉnh ủy", "V/v ngày sai", "", ""])
    write_csv(stick.root / "so-den-2020-2024.csv", rows, "cp1258")
    (kiosk.paths.root / "import").mkdir()
    write_csv(kiosk.paths.root / "import" / "so-di.csv", sample_rows(10, start=7000))

    operator = client_for(app, "1001", "1234")
    assert operator.get("/api/v1/register/sources").status_code == 403
    archivist = client_for(app, "2001", "2468")
    sources = archivist.get("/api/v1/register/sources").json()
    ids = {s["id"]: s for s in sources}
    assert set(ids) == {"usb/stick1/so-den-2020-2024.csv", "import/so-di.csv"}
    bad = archivist.post(
        "/api/v1/register/import", json={"source": "usb/stick1/../../etc/passwd", "direction": "in"}
    ).json()
    done = wait_for(
        lambda: archivist.get(f"/api/v1/register/import/{bad['id']}").json()["state"] != "running",
        10,
    )
    assert (
        done and archivist.get(f"/api/v1/register/import/{bad['id']}").json()["state"] == "failed"
    )

    job = archivist.post(
        "/api/v1/register/import",
        json={"source": "usb/stick1/so-den-2020-2024.csv", "direction": "in"},
    ).json()
    assert wait_for(
        lambda: archivist.get(f"/api/v1/register/import/{job['id']}").json()["state"] == "done", 60
    )
    final = archivist.get(f"/api/v1/register/import/{job['id']}").json()
    assert final["report"]["register"] == "so-den-2020-2024"
    assert final["report"]["imported"] == 2500 and final["report"]["encoding"] == "cp1258"
    assert final["rejected"] == [
        {"line": 2504, "reason": "Ngày văn bản: Ngày không có thật: 32/01/2021"}
    ]
    assert "Đã nhập 2500 dòng" in final["message"]
    # the file on the stick was copied in first; the import does not need the stick any more
    assert (kiosk.paths.root / "import" / ".usb" / "so-den-2020-2024.csv").exists()

    prog = archivist.get("/api/v1/progress").json()["register"]
    assert prog["summary_vi"] == "0/2500 văn bản đến đã được số hóa (2020-2024)"
    assert prog["registers"][0]["selected"] == 500  # [selection] periods = "2022"
    page = archivist.get("/progress").text
    assert "0/2500 văn bản đến đã được số hóa (2020-2024)" in page
    assert "Nhập sổ đăng ký" in page and "Bản gốc chưa trả" in page
    assert "Nhập sổ đăng ký" not in operator.get("/progress").text  # operators only look


def test_review_shows_candidates_selection_warning_and_the_clerks_choice(app):
    kiosk = app.state.ui.kiosk
    path = write_csv(kiosk.paths.root / "so.csv", sample_rows(30))
    import_register(kiosk.catalog, path, name="Sổ đến", direction="in")
    clerk = client_for(app, "1001", "1234")
    doc = clerk.post("/api/v1/documents").json()
    custody = clerk.get("/api/v1/custody").json()
    assert [c["document_id"] for c in custody] == [doc["id"]]
    assert custody[0]["out_by_name"] == "Nguyễn Thị Lan"
    # entry 4 of sample_rows: "4-NQ/TU", 5/5/2024; OCR read "4-NQ/TƯ" and lost a digit of the day
    info = clerk.get(
        f"/api/v1/documents/{doc['id']}/register",
        params={"number": "4-NQ/TƯ", "date": "05/05/2024", "doc_type": "NQ"},
    ).json()
    assert (
        info["candidates"][0]["exact"]
        and info["candidates"][0]["entry"]["number_symbol"] == "4-NQ/TU"
    )
    assert info["selection"]["inside"] is False
    assert "ngoài danh mục được chọn để số hóa" in info["selection"]["message"]
    fuzzy = clerk.get(
        f"/api/v1/documents/{doc['id']}/register",
        params={"number": "4-NQ/TU", "date": "05/06/2024"},
    ).json()
    assert not fuzzy["candidates"][0]["exact"]
    entry_id = fuzzy["candidates"][0]["entry"]["id"]
    r = clerk.put(f"/api/v1/documents/{doc['id']}/register-entry", json={"entry_id": entry_id})
    assert r.status_code == 200
    assert kiosk.catalog.get_document(doc["id"])["metadata"]["register_entry_id"] == entry_id
    chosen = clerk.get(f"/api/v1/documents/{doc['id']}/register").json()["chosen"]
    assert chosen["id"] == entry_id
    assert (
        clerk.put(
            f"/api/v1/documents/{doc['id']}/register-entry", json={"entry_id": 10**6}
        ).status_code
        == 404
    )
    en = client_for(app, "1001", "1234", "en")
    msg = en.get(
        f"/api/v1/documents/{doc['id']}/register",
        params={"number": "4-NQ/TU", "date": "05/05/2024"},
    ).json()["selection"]["message"]
    assert "outside the selection" in msg
