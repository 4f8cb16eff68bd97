"""``sohoa release build --version V --out DIR``: the release artifact of this checkout.

``sohoa release publish --artifact FILE --keys OFFLINE_DIR --dir HUB``: sign it as a TUF
target of the release role, whose key lives in the offline key directory (``sohoa fleet
keys``), never on the hub. The hub then serves it and may assign it in a rollout
(``sohoa hub rollout create --version V``), but could not have made it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def cmd_release_build(args: argparse.Namespace) -> int:
    from provisioning.release.build import build_release, describe

    source = Path(args.source).resolve()
    out = build_release(source, args.version, Path(args.out), epoch=args.epoch)
    print(describe(out))
    return 0


def _bundle_version(bundle: Path) -> str:
    """The version a RAUC bundle's manifest names (``rauc info``; its CMS signature is the
    kiosk's rauc's to check against its keyring)."""
    import json
    import subprocess

    from firmware.errors import KioskError

    try:
        proc = subprocess.run(
            ["rauc", "info", "--no-verify", "--output-format=json", str(bundle)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return str(json.loads(proc.stdout)["version"])
    except (OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
        raise KioskError(
            "release_unreadable",
            f"{bundle} is not a RAUC bundle rauc can read ({exc}).",
            f"{bundle} không phải gói RAUC đọc được.",
        ) from None


def _artifact_version(artifact: Path) -> str:
    """The version the artifact's own manifest names (what the signed target will carry)."""
    import tarfile

    from firmware.errors import KioskError
    from provisioning.fleet_schemas import OS_BUNDLE_SUFFIX
    from provisioning.release.manifest import MANIFEST_NAME, Manifest, ManifestError

    if artifact.name.endswith(OS_BUNDLE_SUFFIX):
        return _bundle_version(artifact)

    try:
        with tarfile.open(artifact, "r:") as tar:
            fh = tar.extractfile(MANIFEST_NAME)
            if fh is None:
                raise ManifestError("manifest.json is not a file")
            return Manifest.from_bytes(fh.read(1 << 20)).version
    except (OSError, KeyError, tarfile.TarError, ManifestError) as exc:
        raise KioskError(
            "release_unreadable",
            f"{artifact} is not a release artifact of `sohoa release build` ({exc}).",
            f"{artifact} không phải gói phát hành do `sohoa release build` tạo ra.",
        ) from None


def cmd_release_publish(args: argparse.Namespace) -> int:
    from firmware.errors import KioskError
    from provisioning.hub.fleet_keys import publish_release
    from provisioning.hub.tuf_repo import ConfigRepository, RepoError

    artifact = Path(args.artifact)
    version = _artifact_version(artifact)
    repo = ConfigRepository(Path(args.dir) / "tuf")
    try:
        target = publish_release(Path(args.keys), repo, artifact, version)
    except RepoError as exc:
        raise KioskError(
            "release_publish_failed",
            f"The release was not published: {exc}",
            f"Chưa công bố được bản phát hành: {exc}",
        ) from None
    print(
        f"Đã ký và công bố / signed and published: {target.path}  version {version}  "
        f"{target.length} bytes  sha256 {target.hashes['sha256']}"
    )
    return 0


def register(sub: Any) -> None:
    r = sub.add_parser("release", help="release artifacts of the kiosk software")
    acts = r.add_subparsers(dest="release_action", required=True)
    b = acts.add_parser("build", help="build this checkout's release artifact (reproducible)")
    b.add_argument("--version", required=True, help="release version, e.g. 0.2.0")
    b.add_argument("--out", required=True, help="directory for sohoa-<version>-<arch>.tar")
    b.add_argument("--source", default=".", help="the checkout to build (default: here)")
    b.add_argument(
        "--epoch", type=int, default=None, help="SOURCE_DATE_EPOCH (default: last commit time)"
    )
    b.set_defaults(func=cmd_release_build)
    p = acts.add_parser("publish", help="sign an artifact with the offline release key (TUF)")
    p.add_argument(
        "--artifact", required=True, help="sohoa-<version>-<arch>.tar, or a RAUC bundle *.raucb"
    )
    p.add_argument("--keys", required=True, help="the offline key directory (sohoa fleet keys)")
    p.add_argument("--dir", required=True, help="the hub directory whose repository serves it")
    p.set_defaults(func=cmd_release_publish)
