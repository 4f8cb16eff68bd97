"""The offline key ceremony of the fleet's TUF root (``sohoa fleet keys init|rotate``).

The root keys (a threshold of them, e.g. 2 of 3), the top-level targets key and the release
key are made here into a directory meant to live offline (a USB stick in the provincial
safe); the hub gets only its online keys (timestamp, snapshot, config) in ``<hub>/tuf/keys``.
The release key signs the ``releases`` role, delegated from targets for ``releases/*``: what
``sohoa release publish`` signs is the only software a kiosk installs, so a compromised hub
can assign releases but not make one. Rotating a key
writes root (or targets) version N+1 signed by a threshold of the old root keys *and* of the
new ones, as TUF requires, so kiosks follow the chain of roots one version at a time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from securesystemslib.signer import CryptoSigner, Key
from tuf.api.metadata import DelegatedRole, Delegations, Metadata, Role, Root, TargetFile, Targets

from provisioning.fleet_schemas import RELEASE_PATHS, RELEASE_PREFIX, RELEASE_ROLE
from provisioning.hub.tuf_repo import (
    CONFIG_ROLE,
    LIFETIME,
    ONLINE_ROLES,
    ConfigRepository,
    RepoError,
    load_signer,
    save_private_key,
)

#: TUF matches ``*`` within one path segment, so each level is named.
CONFIG_PATHS = ["config/*", "config/groups/*", "config/kiosks/*"]
RELEASE_KEY = "release.pem"
TARGETS_KEY = "targets.pem"


def _expires(role: str) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + LIFETIME.get(role, LIFETIME["targets"])


def _root_signers(keys_dir: Path) -> list[CryptoSigner]:
    found = sorted(keys_dir.glob("root-*.pem"))
    if not found:
        raise RepoError(f"no root keys (root-*.pem) in {keys_dir}")
    return [load_signer(p) for p in found]


def init_keys(
    keys_dir: Path, repo: ConfigRepository, *, root_keys: int = 3, threshold: int = 2
) -> Metadata[Root]:
    """Create the offline keys in ``keys_dir``, the online keys in the hub's repository,
    root v1 and targets v1 (signed offline), then the online metadata."""
    if not 1 <= threshold <= root_keys:
        raise RepoError("threshold must be between 1 and the number of root keys")
    keys_dir.mkdir(parents=True, exist_ok=True)
    if list(keys_dir.glob("root-*.pem")) or repo.exists():
        raise RepoError(f"keys already exist in {keys_dir} or the hub's repository; use rotate")
    roots = [CryptoSigner.generate_ed25519() for _ in range(root_keys)]
    for i, s in enumerate(roots, start=1):
        save_private_key(keys_dir / f"root-{i}.pem", s)
    targets_signer = CryptoSigner.generate_ed25519()
    save_private_key(keys_dir / "targets.pem", targets_signer)
    online = {}
    for role in ONLINE_ROLES:
        online[role] = CryptoSigner.generate_ed25519()
        save_private_key(repo.keys_dir / f"{role}.pem", online[role])

    root = Root(expires=_expires("root"), consistent_snapshot=True)
    for s in roots:
        root.add_key(s.public_key, "root")
    root.roles["root"].threshold = threshold
    root.add_key(targets_signer.public_key, "targets")
    root.add_key(online["snapshot"].public_key, "snapshot")
    root.add_key(online["timestamp"].public_key, "timestamp")
    root_md = Metadata(root)
    for s in roots[:threshold]:
        root_md.sign(s, append=True)

    cfg_key = online[CONFIG_ROLE].public_key
    targets = Targets(version=1, expires=_expires("targets"))
    targets.delegations = Delegations(
        keys={cfg_key.keyid: cfg_key},
        roles={
            CONFIG_ROLE: DelegatedRole(CONFIG_ROLE, [cfg_key.keyid], 1, True, paths=CONFIG_PATHS)
        },
    )
    targets_md = Metadata(targets)
    targets_md.sign(targets_signer)

    repo.install_offline("root", root_md)
    repo.install_offline("targets", targets_md)
    repo.bootstrap()
    ensure_release_role(keys_dir, repo)
    return root_md


def ensure_release_role(keys_dir: Path, repo: ConfigRepository) -> bool:
    """Give the fleet its release role if it has none yet (fleets made before issue 18):
    a release key in ``keys_dir``, the delegation ``releases/*`` in targets (re-signed with
    the offline targets key) and an empty ``releases`` role. True when it was added."""
    targets_md: Metadata[Targets] = repo.load("targets")
    roles = targets_md.signed.delegations.roles if targets_md.signed.delegations else None
    if roles is not None and RELEASE_ROLE in roles:
        return False
    targets_path = keys_dir / TARGETS_KEY
    if not targets_path.exists():
        raise RepoError(f"the offline targets key {targets_path} is needed to add the release role")
    release_path = keys_dir / RELEASE_KEY
    if release_path.exists():
        release = load_signer(release_path)
    else:
        release = CryptoSigner.generate_ed25519()
        save_private_key(release_path, release)
    key = release.public_key
    delegations = targets_md.signed.delegations or Delegations(keys={}, roles={})
    assert delegations.roles is not None
    delegations.keys[key.keyid] = key
    delegations.roles[RELEASE_ROLE] = DelegatedRole(
        RELEASE_ROLE, [key.keyid], 1, True, paths=list(RELEASE_PATHS)
    )
    targets_md.signed.delegations = delegations
    targets_md.signed.version += 1
    targets_md.signed.expires = _expires("targets")
    targets_md.signatures.clear()
    targets_md.sign(load_signer(targets_path))
    releases_md = Metadata(Targets(version=1, expires=_expires(RELEASE_ROLE)))
    releases_md.sign(release)
    repo.install_offline(RELEASE_ROLE, releases_md)
    repo.install_offline("targets", targets_md)
    return True


def _copy_fsynced(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dfd = os.open(dest.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def publish_release(
    keys_dir: Path, repo: ConfigRepository, artifact: Path, version: str
) -> TargetFile:
    """Sign ``artifact`` as the TUF target ``releases/<file name>`` of the release role (key
    from ``keys_dir``, offline), put its bytes where the hub serves targets, and let the hub
    re-sign snapshot and timestamp. The target carries ``custom.version``; the kiosk checks
    it against the version the hub assigns."""
    ensure_release_role(keys_dir, repo)
    release_path = keys_dir / RELEASE_KEY
    if not release_path.exists():
        raise RepoError(f"no release key {release_path}")
    h = hashlib.sha256()
    with open(artifact, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    sha, length = h.hexdigest(), artifact.stat().st_size
    name = RELEASE_PREFIX + artifact.name
    _copy_fsynced(artifact, repo.targets_dir / RELEASE_PREFIX / f"{sha}.{artifact.name}")
    md: Metadata[Targets] = repo.load(RELEASE_ROLE)
    target = TargetFile(
        length, {"sha256": sha}, name, unrecognized_fields={"custom": {"version": version}}
    )
    md.signed.targets[name] = target
    md.signed.version += 1
    md.signed.expires = _expires(RELEASE_ROLE)
    md.signatures.clear()
    md.sign(load_signer(release_path))
    repo.install_offline(RELEASE_ROLE, md)
    return target


def _replace_role_keys(root: Root, role: str, new_keys: list[Key], threshold: int) -> None:
    for keyid in list(root.roles[role].keyids):
        root.revoke_key(keyid, role)
    for k in new_keys:
        root.add_key(k, role)
    root.roles[role] = Role([k.keyid for k in new_keys], threshold)


def rotate(
    keys_dir: Path,
    repo: ConfigRepository,
    role: str,
    *,
    root_keys: int | None = None,
    threshold: int | None = None,
) -> int:
    """Replace the keys of ``role`` (root, targets, timestamp, snapshot or config); the new
    root or targets version that kiosks will follow."""
    old_roots = _root_signers(keys_dir)
    root_md: Metadata[Root] = repo.root_md()
    root = root_md.signed
    old_threshold = root.roles["root"].threshold
    if role == "root":
        n = root_keys or len(old_roots)
        t = threshold or old_threshold
        new = [CryptoSigner.generate_ed25519() for _ in range(n)]
        _replace_role_keys(root, "root", [s.public_key for s in new], t)
        root.version += 1
        root.expires = _expires("root")
        root_md.signatures.clear()
        for s in old_roots[:old_threshold] + new[:t]:
            root_md.sign(s, append=True)
        for p in keys_dir.glob("root-*.pem"):
            p.rename(p.with_name(f"retired-v{root.version - 1}-{p.name}"))
        for i, s in enumerate(new, start=1):
            save_private_key(keys_dir / f"root-{i}.pem", s)
        repo.install_offline("root", root_md)
        return root.version
    if role in ("timestamp", "snapshot", "targets"):
        signer = CryptoSigner.generate_ed25519()
        _replace_role_keys(root, role, [signer.public_key], 1)
        root.version += 1
        root.expires = _expires("root")
        root_md.signatures.clear()
        for s in old_roots[:old_threshold]:
            root_md.sign(s, append=True)
        if role == "targets":
            (keys_dir / "targets.pem").rename(keys_dir / f"retired-v{root.version - 1}-targets.pem")
            save_private_key(keys_dir / "targets.pem", signer)
            targets_md: Metadata[Targets] = repo.load("targets")
            targets_md.signed.version += 1
            targets_md.signed.expires = _expires("targets")
            targets_md.signatures.clear()
            targets_md.sign(signer)
            repo.install_offline("root", root_md)
            repo.install_offline("targets", targets_md)
        else:
            save_private_key(repo.keys_dir / f"{role}.pem", signer)
            repo.install_offline("root", root_md)  # also re-signs snapshot+timestamp
        return root.version
    if role == CONFIG_ROLE:
        raise RepoError(
            "rotating the config role key needs re-signing every config role; not supported yet"
        )
    raise RepoError(f"unknown role {role!r}")
