"""The hub's TUF repository of signed configuration (python-tuf Metadata API).

Trust layout (``docs/fleet-protocol.md``)::

    root (offline, threshold of keys; `sohoa fleet keys`)
     ├─ timestamp, snapshot           online keys, on the hub
     └─ targets (offline key)         delegates config/* to the online config role
         └─ config  (online)          config/fleet.json; delegates
             ├─ group.<name>          config/groups/<name>.json   (one role per group)
             └─ kiosks                config/kiosks/*  -> hash bins kiosks-00 … kiosks-7f
                 └─ kiosks-<xx>       config/kiosks/<kiosk>.json  (succinct delegation)

The hub holds only the online keys (timestamp, snapshot, config); root and targets are signed
offline (:mod:`provisioning.hub.fleet_keys`). Releases have their own delegation from
targets (``releases`` for ``releases/*``), signed by a release key the hub does not hold
(``sohoa release publish``); the hub only serves them and re-signs snapshot/timestamp.

A change to one kiosk re-signs one hash bin (~26 kiosks), the snapshot and the timestamp:
that is all any kiosk downloads for it; a change to a group re-signs that group's role. The
snapshot lists versions only (no hashes), so it stays a few KB with 128 bins and dozens of
groups; ``bench/tuf_config.py`` measures the bytes per kiosk per change at 3,300 kiosks.

Files: ``<hub>/tuf/metadata/`` is served (consistent snapshots: ``<v>.<role>.json``,
``timestamp.json``), ``<hub>/tuf/targets/`` holds ``config/<sha256>.<name>.json``,
``<hub>/tuf/current/`` the latest of each role for re-signing, ``<hub>/tuf/keys/`` the
online private keys (0600). Every file is written atomically; ``timestamp.json`` last, so a
kiosk never sees a snapshot whose roles are not on disk yet. Writers across hub processes
serialize on ``<hub>/tuf/lock`` (flock).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    SuccinctRoles,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from provisioning import fleet_schemas
from provisioning.fleet_schemas import FLEET_TARGET, RELEASE_ROLE, kiosk_target
from provisioning.hub.groups import check_group

ONLINE_ROLES = ("timestamp", "snapshot", "config")
CONFIG_ROLE = "config"
KIOSKS_ROLE = "kiosks"
GROUP_PREFIX = "group."
BIN_BITS = 7  # 128 bins: ~26 kiosks each at 3,300 kiosks

LIFETIME = {
    "root": timedelta(days=365),
    "targets": timedelta(days=365),
    "timestamp": timedelta(days=1),
    "snapshot": timedelta(days=7),
    "config": timedelta(days=90),
    "releases": timedelta(days=365),  # offline: re-signed at each `sohoa release publish`
}

SERIALIZER = JSONSerializer(compact=True)
KEEP_VERSIONS = 3  # published versions kept per role (root: all, for the chain)


class RepoError(Exception):
    """The repository cannot do what was asked (not initialised, unknown group...)."""


def group_target(group: str) -> str:
    """The group's configuration target, for a valid group name only (it names files)."""
    return fleet_schemas.group_target(check_group(group))


def group_role(group: str) -> str:
    return GROUP_PREFIX + check_group(group)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def save_private_key(path: Path, signer: CryptoSigner) -> None:
    _atomic_write(path, signer.private_bytes, mode=0o600)


def load_signer(path: Path) -> CryptoSigner:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    return CryptoSigner(key)


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Published:
    """What one publish produced: the config version and the target it wrote."""

    version: int
    target: str
    sha256: str


class ConfigRepository:
    """The repository under ``<hub>/tuf``; methods are safe to call from several threads
    and several hub processes (one writer at a time, readers never see a half state)."""

    def __init__(
        self,
        root_dir: Path,
        *,
        bin_bits: int = BIN_BITS,
        lifetimes: dict[str, timedelta] | None = None,
    ):
        self.dir = Path(root_dir)
        self.bin_bits = bin_bits
        self.lifetime = {**LIFETIME, **(lifetimes or {})}
        self._lock = threading.RLock()

    # --- layout ---------------------------------------------------------------------------
    @property
    def metadata_dir(self) -> Path:
        return self.dir / "metadata"

    @property
    def targets_dir(self) -> Path:
        return self.dir / "targets"

    @property
    def current_dir(self) -> Path:
        return self.dir / "current"

    @property
    def keys_dir(self) -> Path:
        return self.dir / "keys"

    def exists(self) -> bool:
        return (self.current_dir / "root.json").exists() and (
            self.metadata_dir / "timestamp.json"
        ).exists()

    def online_signer(self, role: str) -> CryptoSigner:
        path = self.keys_dir / f"{role}.pem"
        if not path.exists():
            raise RepoError(f"online key {role} missing in {self.keys_dir} (sohoa fleet keys init)")
        return load_signer(path)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """One writer across threads and hub processes."""
        with self._lock:
            self.dir.mkdir(parents=True, exist_ok=True)
            with open(self.dir / "lock", "a+") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)

    # --- reading the current state ----------------------------------------------------------
    def load(self, role: str) -> Metadata[Any]:
        path = self.current_dir / f"{role}.json"
        if not path.exists():
            raise RepoError(f"no {role} metadata in {self.current_dir}")
        return Metadata.from_bytes(path.read_bytes())

    def timestamp_version(self) -> int | None:
        try:
            return int(
                json.loads((self.metadata_dir / "timestamp.json").read_bytes())["signed"]["version"]
            )
        except (OSError, ValueError, KeyError):
            return None

    def bin_for(self, kiosk_id: str) -> str:
        return self._succinct().get_role_for_target(kiosk_target(kiosk_id))

    def _succinct(self) -> SuccinctRoles:
        return SuccinctRoles([], 1, self.bin_bits, KIOSKS_ROLE)

    def groups(self) -> list[str]:
        config = self.load(CONFIG_ROLE).signed
        roles = config.delegations.roles if config.delegations and config.delegations.roles else {}
        return sorted(n[len(GROUP_PREFIX) :] for n in roles if n.startswith(GROUP_PREFIX))

    def target_document(self, role: str, target: str) -> dict[str, Any] | None:
        """The published document of ``target`` (as signed in ``role``), or None."""
        info = self.load(role).signed.targets.get(target)
        if info is None:
            return None
        sha = info.hashes["sha256"]
        directory, name = target.rsplit("/", 1)
        data = (self.targets_dir / directory / f"{sha}.{name}").read_bytes()
        return json.loads(data)

    def config_version(self) -> int:
        try:
            return int(json.loads((self.dir / "state.json").read_text())["config_version"])
        except (OSError, ValueError, KeyError):
            return 0

    # --- writing ---------------------------------------------------------------------------
    def _write_role(self, role: str, md: Metadata[Any], signers: list[Signer]) -> None:
        md.signatures.clear()
        for s in signers:
            md.sign(s, append=True)
        data = md.to_bytes(SERIALIZER)
        if role == "timestamp":
            _atomic_write(self.current_dir / "timestamp.json", data)
            _atomic_write(self.metadata_dir / "timestamp.json", data)
            return
        _atomic_write(self.metadata_dir / f"{md.signed.version}.{role}.json", data)
        _atomic_write(self.current_dir / f"{role}.json", data)
        # Kiosks need only the current version (a refresh running right now may still ask
        # for the one before); older ones would grow the directory with every publish.
        (self.metadata_dir / f"{md.signed.version - KEEP_VERSIONS}.{role}.json").unlink(
            missing_ok=True
        )

    def install_offline(self, role: str, md: Metadata[Any]) -> None:
        """Take root or targets metadata signed offline (``sohoa fleet keys``), then
        re-sign snapshot and timestamp so kiosks see it."""
        with self.writing():
            data = md.to_bytes(SERIALIZER)
            _atomic_write(self.metadata_dir / f"{md.signed.version}.{role}.json", data)
            _atomic_write(self.current_dir / f"{role}.json", data)
            if role == "root" and md.signed.version == 1:
                _atomic_write(self.metadata_dir / "root.json", data)
            if (self.current_dir / "snapshot.json").exists():
                self._snapshot_and_timestamp()

    def _expires(self, role: str) -> datetime:
        key = role if role in self.lifetime else "config"
        return _now() + self.lifetime[key]

    def _new_targets(self, role: str) -> Metadata[Targets]:
        return Metadata(Targets(version=1, expires=self._expires(role)))

    def bootstrap(self) -> None:
        """Create the online part after ``fleet keys init``: config (with an empty fleet
        document), the kiosks role and all its bins, snapshot and timestamp."""
        with self.writing():
            cfg_signer = self.online_signer(CONFIG_ROLE)
            cfg_key = cfg_signer.public_key
            config = self._new_targets(CONFIG_ROLE)
            config.signed.delegations = Delegations(
                keys={cfg_key.keyid: cfg_key},
                roles={
                    KIOSKS_ROLE: DelegatedRole(
                        KIOSKS_ROLE, [cfg_key.keyid], 1, True, paths=["config/kiosks/*"]
                    )
                },
            )
            kiosks = self._new_targets(KIOSKS_ROLE)
            succinct = SuccinctRoles([cfg_key.keyid], 1, self.bin_bits, KIOSKS_ROLE)
            kiosks.signed.delegations = Delegations(
                keys={cfg_key.keyid: cfg_key}, succinct_roles=succinct
            )
            for name in succinct.get_roles():
                self._write_role(name, self._new_targets(name), [cfg_signer])
            self._write_role(KIOSKS_ROLE, kiosks, [cfg_signer])
            self._put_target(config.signed, FLEET_TARGET, {"scope": "fleet", "settings": {}}, 0)
            self._write_role(CONFIG_ROLE, config, [cfg_signer])
            self._snapshot_and_timestamp(first=True)

    def _put_target(
        self, targets: Targets, target: str, doc: dict[str, Any], version: int
    ) -> Published:
        body = canonical({**doc, "v": 1, "version": version})
        sha = hashlib.sha256(body).hexdigest()
        directory, name = target.rsplit("/", 1)
        _atomic_write(self.targets_dir / directory / f"{sha}.{name}", body)
        targets.targets[target] = TargetFile(len(body), {"sha256": sha}, target)
        return Published(version, target, sha)

    def _next_config_version(self) -> int:
        version = self.config_version() + 1
        _atomic_write(self.dir / "state.json", canonical({"config_version": version}))
        return version

    def _bump(self, role: str, md: Metadata[Any]) -> None:
        md.signed.version += 1
        md.signed.expires = self._expires(role)
        self._write_role(role, md, [self.online_signer(CONFIG_ROLE)])

    def publish_fleet(self, settings: dict[str, Any]) -> Published:
        with self.writing():
            config = self.load(CONFIG_ROLE)
            pub = self._put_target(
                config.signed,
                FLEET_TARGET,
                {"scope": "fleet", "settings": settings},
                self._next_config_version(),
            )
            self._bump(CONFIG_ROLE, config)
            self._snapshot_and_timestamp()
            return pub

    def publish_group(self, group: str, settings: dict[str, Any]) -> Published:
        role = group_role(group)
        with self.writing():
            config = self.load(CONFIG_ROLE)
            roles = config.signed.delegations.roles
            if role not in roles:  # a new group: one more delegation in the config role
                keyid = next(iter(config.signed.delegations.keys))
                roles[role] = DelegatedRole(role, [keyid], 1, True, paths=[group_target(group)])
                self._bump(CONFIG_ROLE, config)
                md = self._new_targets(role)
                md.signed.version = 0
            else:
                md = self.load(role)
            pub = self._put_target(
                md.signed,
                group_target(group),
                {"scope": f"group:{group}", "settings": settings},
                self._next_config_version(),
            )
            self._bump(role, md)
            self._snapshot_and_timestamp()
            return pub

    def publish_kiosk(self, kiosk_id: str, group: str, settings: dict[str, Any]) -> Published:
        with self.writing():
            return self._publish_kiosk(kiosk_id, group, settings)

    def _publish_kiosk(self, kiosk_id: str, group: str, settings: dict[str, Any]) -> Published:
        """:meth:`publish_kiosk` for a caller holding :meth:`writing` (its flock is not
        re-entrant across file descriptors)."""
        name = self.bin_for(kiosk_id)
        md = self.load(name)
        pub = self._put_target(
            md.signed,
            kiosk_target(kiosk_id),
            {"scope": f"kiosk:{kiosk_id}", "group": group, "settings": settings},
            self._next_config_version(),
        )
        self._bump(name, md)
        self._snapshot_and_timestamp()
        return pub

    def publish_kiosk_if_missing(self, kiosk_id: str, group: str) -> bool:
        """Publish the kiosk's first (empty) document unless it has one; True if it did.

        Checked under the writer lock: two hub replicas taking a new kiosk's first
        heartbeats, or an administrator publishing the kiosk's settings on another replica
        at that moment, must not publish it twice or replace its settings with none."""
        name = self.bin_for(kiosk_id)
        with self.writing():
            if self.target_document(name, kiosk_target(kiosk_id)) is not None:
                return False
            self._publish_kiosk(kiosk_id, group, {})
            return True

    def publish_kiosks(self, items: list[tuple[str, str, dict[str, Any]]]) -> int:
        """Many kiosk documents at once (``(kiosk_id, group, settings)``), e.g. importing a
        province: each touched bin is signed once, then one snapshot and one timestamp."""
        with self.writing():
            by_bin: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
            for item in items:
                by_bin.setdefault(self.bin_for(item[0]), []).append(item)
            version = self._next_config_version()
            for name, group_items in by_bin.items():
                md = self.load(name)
                for kiosk_id, group, settings in group_items:
                    self._put_target(
                        md.signed,
                        kiosk_target(kiosk_id),
                        {"scope": f"kiosk:{kiosk_id}", "group": group, "settings": settings},
                        version,
                    )
                self._bump(name, md)
            self._snapshot_and_timestamp()
            return version

    def _snapshot_and_timestamp(self, first: bool = False) -> None:
        """A new snapshot naming the current version of every targets role, then a new
        timestamp naming that snapshot (written last)."""
        meta: dict[str, MetaFile] = {}
        for path in sorted(self.current_dir.glob("*.json")):
            role = path.stem
            if role in ("root", "timestamp", "snapshot"):
                continue
            version = int(json.loads(path.read_bytes())["signed"]["version"])
            meta[f"{role}.json"] = MetaFile(version)
        if first or not (self.current_dir / "snapshot.json").exists():
            snapshot = Metadata(Snapshot(version=1, expires=self._expires("snapshot"), meta=meta))
        else:
            snapshot = self.load("snapshot")
            snapshot.signed.version += 1
            snapshot.signed.expires = self._expires("snapshot")
            snapshot.signed.meta = meta
        self._write_role("snapshot", snapshot, [self.online_signer("snapshot")])
        if (self.current_dir / "timestamp.json").exists():
            ts = self.load("timestamp")
            ts.signed.version += 1
        else:
            ts = Metadata(
                Timestamp(version=1, expires=self._expires("timestamp"), snapshot_meta=MetaFile(1))
            )
        ts.signed.expires = self._expires("timestamp")
        ts.signed.snapshot_meta = MetaFile(snapshot.signed.version)
        self._write_role("timestamp", ts, [self.online_signer("timestamp")])

    def refresh_expiring(self, now: datetime | None = None) -> list[str]:
        """Re-sign online metadata past half of its lifetime (the hub runs this at start and
        hourly), so a running hub never lets kiosks see expired metadata. Returns the roles
        re-signed."""
        now = now or _now()
        done: list[str] = []
        with self.writing():
            if not self.exists():
                return done
            for path in sorted(self.current_dir.glob("*.json")):
                role = path.stem
                if role in ("root", "targets", "timestamp", "snapshot", RELEASE_ROLE):
                    continue  # signed offline: the hub has no key for these
                md = self.load(role)
                key = role if role in self.lifetime else "config"
                if md.signed.expires - now < self.lifetime[key] / 2:
                    self._bump(role, md)
                    done.append(role)
            snap = self.load("snapshot")
            ts = self.load("timestamp")
            if (
                done
                or snap.signed.expires - now < self.lifetime["snapshot"] / 2
                or ts.signed.expires - now < self.lifetime["timestamp"] / 2
            ):
                self._snapshot_and_timestamp()
                done += ["snapshot", "timestamp"]
        return done

    def releases(self) -> dict[str, dict[str, Any]]:
        """version -> {version, target, sha256, length} of every release the release role
        signed (what ``sohoa hub rollout create --version V`` assigns)."""
        try:
            md = self.load(RELEASE_ROLE)
        except RepoError:
            return {}
        out = {}
        for name, t in md.signed.targets.items():
            version = (t.custom or {}).get("version")
            if isinstance(version, str):
                out[version] = {
                    "version": version,
                    "target": name,
                    "sha256": t.hashes["sha256"],
                    "length": t.length,
                }
        return out

    def root_md(self) -> Metadata[Root]:
        return self.load("root")
