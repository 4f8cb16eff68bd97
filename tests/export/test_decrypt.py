"""The receiving office's side: `sohoa decrypt` with a key file or a PKCS#11 token."""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from firmware.cli.export import register
from firmware.export import cms
from firmware.export.decrypt import decrypt_export
from firmware.export.exporter import MANIFEST_NAME
from tests.support import export as sup

env = sup.env
recipient = sup.recipient


@pytest.fixture
def exported(env):
    """An export of two confidential documents; returns (folder, original PDFs)."""
    docs = [env.sealed(level="mat"), env.sealed(level="toi_mat", size=60_000)]
    stick = env.stick()
    env.exporter().export("ab01", "archivist")
    return sup.export_dir_of(stick.root), {d["id"]: d["pdf_bytes"] for d in docs}


def kiosk_cert(env) -> Path:
    return env.paths.root / "keys" / "signing.crt.pem"


def test_decrypt_with_key_file(env, exported, tmp_path):
    folder, pdfs = exported
    key = cms.KeyFile(env.recipient_key, env.recipient_cert)
    report = decrypt_export(folder, key, tmp_path / "out", trust=[kiosk_cert(env)])
    assert report.ok, report.lines()
    assert report.signature.trusted is True
    for doc_id, pdf in pdfs.items():
        assert (tmp_path / "out" / doc_id / f"{doc_id}.pdf").read_bytes() == pdf
        assert (tmp_path / "out" / doc_id / f"{doc_id}.txt").read_text().startswith("Nghị")


def test_cli_decrypt_reports_and_exit_status(env, exported, tmp_path, capsys):
    folder, _ = exported
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    parser.add_argument("--data-dir")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "decrypt",
            str(folder),
            "--key",
            str(env.recipient_key),
            "--out",
            str(tmp_path / "o"),
            "--trust",
            str(kiosk_cert(env)),
            "--json",
        ]
    )
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["signature"]["trusted"] is True
    (folder / "stray.txt").write_text("x")
    args = parser.parse_args(
        ["decrypt", str(folder), "--key", str(env.recipient_key), "--out", str(tmp_path / "o2")]
        + ["--trust", str(kiosk_cert(env))]
    )
    assert args.func(args) == 1
    assert "THỪA / EXTRA: stray.txt" in capsys.readouterr().out


def test_tampered_missing_and_extra_files_are_reported(env, exported, tmp_path):
    folder, pdfs = exported
    first, second = sorted(pdfs)
    p = folder / f"{first}.p7m"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x01
    p.write_bytes(bytes(data))
    (folder / "README.txt").unlink()
    (folder / "extra.bin").write_bytes(b"?")
    report = decrypt_export(
        folder, cms.KeyFile(env.recipient_key), tmp_path / "out", trust=[kiosk_cert(env)]
    )
    assert not report.ok
    assert report.altered == [f"{first}.p7m"]
    assert report.missing == ["README.txt"]
    assert report.extra == ["extra.bin"]
    by_id = {d.doc_id: d for d in report.documents}
    assert by_id[first].status == "skipped" and not (tmp_path / "out" / first).exists()
    assert by_id[second].status == "ok"  # the intact document is still delivered


def test_tampered_manifest_stops_everything(env, exported, tmp_path):
    folder, _ = exported
    m = json.loads((folder / MANIFEST_NAME).read_text())
    m["operator"] = "someone-else"
    (folder / MANIFEST_NAME).write_text(json.dumps(m))
    report = decrypt_export(
        folder, cms.KeyFile(env.recipient_key), tmp_path / "out", trust=[kiosk_cert(env)]
    )
    assert not report.ok and not report.signature.ok and report.documents == []
    assert not (tmp_path / "out").exists()
    # openssl, the receiving office's own tool, agrees.
    res = sup.openssl(
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        str(folder / "manifest.json.p7s"),
        "-content",
        str(folder / MANIFEST_NAME),
        "-CAfile",
        str(kiosk_cert(env)),
        "-out",
        os.devnull,
    )
    assert res.returncode != 0


def test_untrusted_signer_is_flagged(env, exported, tmp_path):
    folder, _ = exported
    _, other = sup.make_cert(tmp_path / "other", "other-kiosk", kind="ec", key_usage="sign")
    report = decrypt_export(folder, cms.KeyFile(env.recipient_key), tmp_path / "out", trust=[other])
    assert report.signature.ok and report.signature.trusted is False and not report.ok


def test_wrong_key_cannot_decrypt(env, exported, tmp_path):
    folder, _ = exported
    wrong_key, wrong_cert = sup.make_cert(tmp_path / "wrong", "wrong")
    report = decrypt_export(
        folder, cms.KeyFile(wrong_key, wrong_cert), tmp_path / "out", trust=[kiosk_cert(env)]
    )
    assert {d.status for d in report.documents} == {"decrypt_failed"}
    assert not report.ok
    assert not list((tmp_path / "out").glob("*/*.pdf"))


def test_incomplete_export_is_reported(env, exported, tmp_path):
    folder, _ = exported
    (folder / "manifest.json.p7s").unlink()
    report = decrypt_export(
        folder, cms.KeyFile(env.recipient_key), tmp_path / "out", trust=[kiosk_cert(env)]
    )
    assert not report.ok and report.missing == ["manifest.json.p7s"]


# -- PKCS#11 (SoftHSM2) -------------------------------------------------------------------
def _softhsm_module() -> str | None:
    found = glob.glob("/usr/lib/softhsm/libsofthsm2.so") + glob.glob(
        "/usr/lib/*/softhsm/libsofthsm2.so"
    )
    return found[0] if found else None


def _engine_present() -> bool:
    return bool(
        glob.glob("/usr/lib/*/engines-3/pkcs11.so") + glob.glob("/usr/lib/engines-3/pkcs11.so")
    )


@pytest.fixture
def token(tmp_path, recipient, monkeypatch):
    """A SoftHSM2 token holding the recipient's private key."""
    module = _softhsm_module()
    if not (module and shutil.which("softhsm2-util") and shutil.which("pkcs11-tool")):
        pytest.skip("SoftHSM2/OpenSC not installed (Debian: softhsm2 opensc)")
    if not _engine_present():
        pytest.skip("OpenSSL pkcs11 engine not installed (Debian: libengine-pkcs11-openssl)")
    conf = tmp_path / "softhsm2.conf"
    (tmp_path / "tokens").mkdir()
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run(
        "softhsm2-util",
        "--init-token",
        "--free",
        "--label",
        "archive",
        "--pin",
        "1234",
        "--so-pin",
        "87654321",
    )
    der = tmp_path / "key.der"
    run(
        "openssl",
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        str(recipient[0]),
        "-outform",
        "DER",
        "-out",
        str(der),
    )
    run(
        "pkcs11-tool",
        "--module",
        module,
        "--login",
        "--pin",
        "1234",
        "--token-label",
        "archive",
        "--write-object",
        str(der),
        "--type",
        "privkey",
        "--id",
        "01",
        "--label",
        "decrypt-key",
    )
    return module


def test_decrypt_with_pkcs11_token(env, exported, token, tmp_path):
    folder, pdfs = exported
    key = cms.Pkcs11Key(
        "pkcs11:token=archive;object=decrypt-key;type=private",
        module=token,
        pin="1234",
        cert=env.recipient_cert,
    )
    report = decrypt_export(folder, key, tmp_path / "out", trust=[kiosk_cert(env)])
    assert report.ok, report.lines()
    for doc_id, pdf in pdfs.items():
        assert (tmp_path / "out" / doc_id / f"{doc_id}.pdf").read_bytes() == pdf


def test_pkcs11_wrong_pin_fails_cleanly(env, exported, token, tmp_path):
    folder, _ = exported
    key = cms.Pkcs11Key(
        "pkcs11:token=archive;object=decrypt-key;type=private",
        module=token,
        pin="0000",
        cert=env.recipient_cert,
    )
    report = decrypt_export(folder, key, tmp_path / "out", trust=[kiosk_cert(env)])
    assert not report.ok and {d.status for d in report.documents} == {"decrypt_failed"}
