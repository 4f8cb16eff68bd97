"""`sohoa decrypt` against a hostile export folder (issue #14): the receiving office is the
one place the kiosk does not control, so the real CLI is run on folders an attacker made
with openssl: traversal ids, a self-signed manifest. Nothing may be written or deleted
outside ``--out``, and an untrusted manifest stops everything before any write."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from firmware.export.exporter import MANIFEST_NAME, SIGNATURE_NAME
from tests.support import export as sup

env = sup.env
recipient = sup.recipient

SOHOA = str(Path(sys.executable).parent / "sohoa")


def _openssl(*args: str) -> None:
    res = sup.openssl(*args)
    assert res.returncode == 0, res.stderr.decode()


def _self_signed(directory: Path, cn: str) -> tuple[Path, Path]:
    """An openssl-made P-256 key and self-signed certificate (the attacker's)."""
    directory.mkdir(parents=True, exist_ok=True)
    key, crt = directory / f"{cn}.key", directory / f"{cn}.crt"
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key))
    _openssl("req", "-new", "-x509", "-key", str(key), "-subj", f"/CN={cn}", "-days", "30",
             "-out", str(crt))  # fmt: skip
    return key, crt


def _fleet_ca(directory: Path) -> tuple[Path, Path]:
    """An openssl-made CA standing for the fleet CA that issues kiosk certificates."""
    directory.mkdir(parents=True, exist_ok=True)
    key, crt = directory / "fleet-ca.key", directory / "fleet-ca.crt"
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key))
    _openssl("req", "-new", "-x509", "-key", str(key), "-subj", "/CN=Sohoa fleet CA",
             "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", str(crt))  # fmt: skip
    return key, crt


def _issue_kiosk_cert(env, ca_key: Path, ca_crt: Path, tmp: Path) -> None:
    """The fleet CA certifies the kiosk's own signing key (what enrollment does)."""
    from firmware.archive.device_keys import (
        install_certificate,
        keys_dir,
        load_or_create_signing_identity,
    )

    load_or_create_signing_identity(env.paths, kiosk_id="kiosk-test")
    csr, crt, ext = tmp / "kiosk.csr", tmp / "kiosk.crt", tmp / "kiosk.ext"
    key = keys_dir(env.paths) / "signing.key.pem"
    _openssl("req", "-new", "-key", str(key), "-subj", "/CN=Sohoa kiosk kiosk-test",
             "-out", str(csr))  # fmt: skip
    ext.write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
             "-CAcreateserial", "-days", "30", "-extfile", str(ext), "-out", str(crt))  # fmt: skip
    install_certificate(env.paths, crt.read_bytes())


@pytest.fixture
def fleet(env, tmp_path):
    """(export folder, fleet CA certificate): one Mật document exported by a kiosk whose
    signing certificate the fleet CA issued."""
    ca_key, ca_crt = _fleet_ca(tmp_path / "ca")
    _issue_kiosk_cert(env, ca_key, ca_crt, tmp_path / "ca")
    env.sealed(level="mat")
    stick = env.stick()
    env.exporter().export("ab01", "archivist")
    return sup.export_dir_of(stick.root), ca_crt


def _decrypt(env, folder: Path, out: Path, *trust: Path) -> subprocess.CompletedProcess[str]:
    args = [SOHOA, "decrypt", str(folder), "--key", str(env.recipient_key), "--out", str(out)]
    for t in trust:
        args += ["--trust", str(t)]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def _resign(folder: Path, manifest: dict, key: Path, crt: Path) -> None:
    """Write ``manifest`` and sign it detached with openssl (as an attacker would)."""
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")
    _openssl("cms", "-sign", "-binary", "-outform", "DER", "-in", str(folder / MANIFEST_NAME),
             "-signer", str(crt), "-inkey", str(key), "-md", "sha256",
             "-out", str(folder / SIGNATURE_NAME))  # fmt: skip


def _add_file(folder: Path, manifest: dict, name: str, data: bytes) -> None:
    (folder / name).write_bytes(data)
    manifest["files"].append(
        {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    )


def _kiosk_key(env) -> tuple[Path, Path]:
    d = env.paths.root / "keys"
    return d / "signing.key.pem", d / "signing.crt.pem"


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def test_legitimate_export_decrypts_against_the_fleet_ca(env, fleet, tmp_path):
    folder, ca = fleet
    res = _decrypt(env, folder, tmp_path / "out", ca)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "tin cậy / trusted" in res.stdout
    (doc,) = json.loads((folder / MANIFEST_NAME).read_text())["documents"]
    assert (tmp_path / "out" / doc["id"] / f"{doc['id']}.pdf").is_file()
    # The stick's README.txt tells the office to check the same thing with openssl.
    readme = (folder / "README.txt").read_text(encoding="utf-8")
    assert "--trust" in readme and "-CAfile <fleet CA> -purpose any" in readme
    _openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", str(folder / SIGNATURE_NAME),
             "-content", str(folder / MANIFEST_NAME), "-CAfile", str(ca), "-purpose", "any",
             "-out", "/dev/null")  # fmt: skip


def test_decrypt_without_a_trust_anchor_writes_nothing(env, fleet, tmp_path):
    folder, _ = fleet
    res = _decrypt(env, folder, tmp_path / "out")
    assert res.returncode == 1
    assert "--trust" in res.stdout
    assert not (tmp_path / "out").exists()


def test_self_signed_manifest_is_refused_before_anything_is_written(env, fleet, tmp_path):
    folder, ca = fleet
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    _resign(folder, manifest, *_self_signed(tmp_path / "evil", "Sohoa kiosk kiosk-test"))
    res = _decrypt(env, folder, tmp_path / "out", ca)
    assert res.returncode == 1
    assert "KHÔNG tin cậy / NOT trusted" in res.stdout
    assert not (tmp_path / "out").exists()


def test_parent_folder_id_neither_writes_nor_deletes_outside(env, fleet, tmp_path):
    """The attack of the issue: id ``../victim-folder`` and a file that fails to decrypt
    made decrypt ``rmtree`` a sibling of the output folder. Even with the kiosk's own key
    (a stolen kiosk), the id is refused and the sibling survives."""
    folder, ca = fleet
    victim = tmp_path / "victim-folder"
    victim.mkdir()
    (victim / "keep.txt").write_text("office records")
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    _add_file(folder, manifest, "junk.p7m", b"not cms at all")
    manifest["documents"] = [{"id": "../victim-folder", "files": ["junk.p7m"]}]
    _resign(folder, manifest, *_kiosk_key(env))
    res = _decrypt(env, folder, tmp_path / "out", ca)
    assert res.returncode == 1
    assert (victim / "keep.txt").read_text() == "office records"
    assert "../victim-folder" in res.stdout and "invalid" in res.stdout.lower()
    assert _tree(tmp_path / "out") == set()


def test_dot_slash_traversal_id_cannot_plant_a_file(env, fleet, tmp_path):
    """``./`` + ``../`` repeated + a target path: the decrypted archive would be unpacked
    wherever the office's user can write."""
    folder, ca = fleet
    target = tmp_path / "planted"
    out = tmp_path / "a" / "b" / "out"
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    real = manifest["documents"][0]
    doc_id = "./" + "../" * 3 + "planted"
    manifest["documents"] = [{**real, "id": doc_id}]
    _resign(folder, manifest, *_kiosk_key(env))
    before = _tree(tmp_path)
    res = _decrypt(env, folder, out, ca)
    assert res.returncode == 1
    assert not target.exists()
    assert _tree(tmp_path) - before <= {"a", "a/b", "a/b/out"}
    assert _tree(out) == set()


def test_manifest_file_names_cannot_reach_outside_the_export(env, fleet, tmp_path):
    """A listed file ``../secret`` would be read (hashed, decrypted) from outside."""
    folder, ca = fleet
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    secret = folder.parent / "secret.bin"
    secret.write_bytes(b"x" * 10)
    manifest["files"].append(
        {"name": "../secret.bin", "size": 10, "sha256": hashlib.sha256(b"x" * 10).hexdigest()}
    )
    _resign(folder, manifest, *_kiosk_key(env))
    res = _decrypt(env, folder, tmp_path / "out", ca)
    assert res.returncode == 1
    assert "../secret.bin" in res.stdout
    assert not (tmp_path / "out").exists()


def test_existing_output_is_never_overwritten_or_removed(env, fleet, tmp_path):
    """A document folder that already exists in --out (an earlier run, the office's own
    files) is left exactly as it was: decrypt reports it instead of writing into it."""
    folder, ca = fleet
    (doc,) = json.loads((folder / MANIFEST_NAME).read_text())["documents"]
    existing = tmp_path / "out" / doc["id"]
    existing.mkdir(parents=True)
    (existing / "notes.txt").write_text("mine")
    res = _decrypt(env, folder, tmp_path / "out", ca)
    assert res.returncode == 1
    assert _tree(existing) == {"notes.txt"}
    assert (existing / "notes.txt").read_text() == "mine"


def test_demo_export_decrypts_with_the_trust_the_banner_prints(env, tmp_path):
    """``sohoa demo``: the demo CA certifies the kiosk's signing key, and the command the
    banner prints (``--key ... --trust ...``) decrypts a demo export with the real CLI."""
    from firmware.demo import export as demo_export

    banner = demo_export.prepare(env.paths.root, "kiosk-test")
    ca = demo_export.demo_ca_paths(env.paths.root)[1]
    assert f"--trust {ca}" in banner
    env.sealed(level="mat")
    stick = env.stick()
    env.exporter().export("ab01", "archivist")
    folder = sup.export_dir_of(stick.root)
    res = _decrypt(env, folder, tmp_path / "out", ca)
    assert res.returncode == 0, res.stdout + res.stderr
    # A second run leaves the kiosk's certificate alone (already issued by the demo CA).
    crt = (env.paths.root / "keys" / "signing.crt.pem").read_bytes()
    demo_export.prepare(env.paths.root, "kiosk-test")
    assert (env.paths.root / "keys" / "signing.crt.pem").read_bytes() == crt
