"""Bytes each kiosk downloads per configuration change, with 3,300 kiosks in the repository.

Builds the hub's real TUF repository (``provisioning.hub.tuf_repo``: per-group delegations,
per-kiosk documents in hash bins) in a temporary directory, syncs three kiosks with
python-tuf's ngclient (the changed kiosk, a kiosk in the same hash bin, a kiosk elsewhere),
then changes one kiosk's document, one group's and the fleet-wide one, and counts what each
client fetched as the hub serves it (gzip, as ``tuf_routes`` answers). Beside it: the size of
the flat layout (all per-kiosk targets in one role), which every kiosk would fetch on any
change.

    .venv/bin/python bench/tuf_config.py [--kiosks 3300] [--groups 25]

Budget (issue 17): <= 10 KB per kiosk per change.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tuf.api.exceptions import DownloadHTTPError  # noqa: E402
from tuf.api.metadata import Metadata, TargetFile, Targets  # noqa: E402
from tuf.ngclient import Updater  # noqa: E402
from tuf.ngclient.fetcher import FetcherInterface  # noqa: E402

from provisioning.hub.fleet_keys import init_keys  # noqa: E402
from provisioning.hub.tuf_repo import SERIALIZER, ConfigRepository  # noqa: E402


class CountingFetcher(FetcherInterface):
    """Reads the repository's files as the hub serves them and counts the bytes on the wire
    (gzip-compressed like ``tuf_routes`` does for bodies over 256 bytes)."""

    def __init__(self, tuf_dir: Path):
        self.dir = tuf_dir
        self.requests = 0
        self.wire = 0

    def _fetch(self, url: str) -> Iterator[bytes]:
        self.requests += 1
        path = self.dir / url.split("/tuf/", 1)[1]
        if not path.exists():
            self.wire += 200  # a 404 answer
            raise DownloadHTTPError(url, 404)
        data = path.read_bytes()
        self.wire += 200 + (len(gzip.compress(data, mtime=0)) if len(data) > 256 else len(data))
        return iter([data])


class Kiosk:
    def __init__(self, base: Path, tuf_dir: Path, kiosk_id: str, group: str):
        self.id, self.group = kiosk_id, group
        self.meta, self.targets = base / kiosk_id / "meta", base / kiosk_id / "targets"
        self.meta.mkdir(parents=True)
        self.targets.mkdir(parents=True)
        shutil.copy(tuf_dir / "metadata" / "1.root.json", self.meta / "root.json")
        self.fetcher = CountingFetcher(tuf_dir)

    def sync(self) -> tuple[int, int]:
        """One refresh plus its three documents; (requests, bytes) it cost."""
        r0, b0 = self.fetcher.requests, self.fetcher.wire
        up = Updater(
            str(self.meta),
            "https://hub/tuf/metadata/",
            str(self.targets),
            "https://hub/tuf/targets/",
            fetcher=self.fetcher,
            bootstrap=None,
        )
        up.refresh()
        for target in (
            f"config/kiosks/{self.id}.json",
            f"config/groups/{self.group}.json",
            "config/fleet.json",
        ):
            info = up.get_targetinfo(target)
            if info is not None and up.find_cached_target(info) is None:
                up.download_target(info)
        return self.fetcher.requests - r0, self.fetcher.wire - b0


def flat_role_size(repo: ConfigRepository, kiosks: list[str]) -> int:
    """The single targets role every kiosk would fetch without hash bins."""
    md = Metadata(Targets(version=1))
    for k in kiosks:
        md.signed.targets[f"config/kiosks/{k}.json"] = TargetFile(
            300, {"sha256": "ab" * 32}, f"config/kiosks/{k}.json"
        )
    md.sign(repo.online_signer("config"))
    return len(md.to_bytes(SERIALIZER))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kiosks", type=int, default=3300)
    ap.add_argument("--groups", type=int, default=25)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sohoa-tuf-bench-"))
    try:
        repo = ConfigRepository(tmp / "hub" / "tuf")
        t0 = time.perf_counter()
        init_keys(tmp / "offline", repo)
        groups = [f"huyen-{i:02d}" for i in range(args.groups)]
        kiosk_ids = [f"xa-{i:04d}" for i in range(args.kiosks)]
        group_of = {k: groups[i % len(groups)] for i, k in enumerate(kiosk_ids)}
        for g in groups:
            repo.publish_group(g, {"metadata": {"document_types": "ĐA=Đề án"}})
        repo.publish_kiosks([(k, group_of[k], {}) for k in kiosk_ids])
        build_s = time.perf_counter() - t0

        changed = kiosk_ids[0]
        same_bin = next(k for k in kiosk_ids[1:] if repo.bin_for(k) == repo.bin_for(changed))
        elsewhere = next(
            k
            for k in kiosk_ids[1:]
            if repo.bin_for(k) != repo.bin_for(changed) and group_of[k] != group_of[changed]
        )
        clients = {
            "changed kiosk": Kiosk(tmp / "kiosks", repo.dir, changed, group_of[changed]),
            "same hash bin": Kiosk(tmp / "kiosks", repo.dir, same_bin, group_of[same_bin]),
            "other bin+group": Kiosk(tmp / "kiosks", repo.dir, elsewhere, group_of[elsewhere]),
        }
        rows: list[tuple[str, str, int, int]] = []
        for name, c in clients.items():
            req, wire = c.sync()
            rows.append(("first sync", name, req, wire))
        changes = [
            (
                "one kiosk",
                lambda: repo.publish_kiosk(
                    changed, group_of[changed], {"ui": {"idle_timeout_s": 200}}
                ),
            ),
            (
                "its group",
                lambda: repo.publish_group(group_of[changed], {"signing": {"location": "Xã A"}}),
            ),
            ("fleet-wide", lambda: repo.publish_fleet({"uplink": {"bandwidth_kbit": 128}})),
        ]
        for label, change in changes:
            change()
            for name, c in clients.items():
                req, wire = c.sync()
                rows.append((label, name, req, wire))
        bins = sorted(repo.metadata_dir.glob("*.kiosks-*.json"))
        bin_sizes = [p.stat().st_size for p in bins]
        snap_size = (repo.current_dir / "snapshot.json").stat().st_size
        flat = flat_role_size(repo, kiosk_ids)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(
        f"{args.kiosks} kiosks, {args.groups} groups, {len(bin_sizes)} hash-bin metadata files on disk (128 bins, 3 versions kept); built in {build_s:.1f} s"
    )
    print(f"snapshot {snap_size} B raw; bin metadata {min(bin_sizes)}-{max(bin_sizes)} B raw")
    print(
        f"flat layout (all kiosks in one role): {flat / 1024:.0f} KB, fetched by every kiosk on any change"
    )
    print()
    print(f"{'change':<12} {'kiosk':<16} {'requests':>8} {'bytes on wire':>14}")
    worst = 0
    for label, name, req, wire in rows:
        print(f"{label:<12} {name:<16} {req:>8} {wire:>14,}")
        if label != "first sync":
            worst = max(worst, wire)
    print()
    verdict = "within" if worst <= 10 * 1024 else "OVER"
    print(f"worst per kiosk per change: {worst:,} B ({verdict} the 10 KB budget)")
    print(json.dumps({"worst_bytes_per_change": worst, "flat_role_bytes": flat}))
    return 0 if worst <= 10 * 1024 else 1


if __name__ == "__main__":
    sys.exit(main())
