"""Check a release the hub assigns (heartbeat ``rel``) against TUF before a byte of it is
downloaded: the hub says *which* release, only the offline release role says *what* it is.

The offer is accepted only when the kiosk's TUF client (the same trusted root and metadata
as the signed configuration) finds the offered target through the top-level delegation of
``releases/*`` to the release role, signed by that role's key, naming the same version in
``custom.version``. The length and SHA-256 the kiosk then downloads against are TUF's, never
the hub's; an offer whose numbers differ from the signed ones is refused as a hub that
lies. A target the hub signed itself (with any key it holds) or one nobody signed does not
verify, so a compromised hub cannot push code.
"""

from __future__ import annotations

from dataclasses import dataclass

from tuf.api import exceptions as tuf_errors
from tuf.ngclient import Updater as TufUpdater

from firmware.errors import KioskError
from provisioning.agent.updates.artifact import Expected
from provisioning.fleet_schemas import RELEASE_PREFIX, ReleaseOffer, release_url


@dataclass(frozen=True)
class TrustedRelease:
    """An assigned release that TUF vouches for: what to fetch and what it must hash to."""

    version: str
    expected: Expected
    url: str
    rollout: str


def untrusted(offer: ReleaseOffer, why: str) -> KioskError:
    return KioskError(
        "update_untrusted",
        f"Release {offer.version} assigned by the hub is refused before download: {why}.",
        f"Bản cập nhật {offer.version} do trung tâm giao bị từ chối trước khi tải: chưa được "
        "ký bởi khóa phát hành của tỉnh.",
    )


def check_offer(tuf: TufUpdater, offer: ReleaseOffer) -> TrustedRelease:
    """The release as TUF signed it, or :class:`KioskError` ``update_untrusted`` (or
    ``update_unreachable`` when the metadata cannot be fetched now: try again later).
    ``tuf`` has been refreshed by the caller."""
    if not offer.target.startswith(RELEASE_PREFIX) or ".." in offer.target:
        raise untrusted(offer, f"{offer.target!r} is not a release target")
    try:
        info = tuf.get_targetinfo(offer.target)
    except tuf_errors.DownloadError as exc:
        raise KioskError(
            "update_unreachable",
            f"The release's signed metadata could not be fetched ({exc}); trying again later.",
            "Không tải được dữ liệu ký của bản cập nhật; sẽ thử lại sau.",
        ) from exc
    except tuf_errors.RepositoryError as exc:
        raise untrusted(
            offer, f"its metadata does not verify ({type(exc).__name__}: {exc})"
        ) from exc
    if info is None:
        raise untrusted(offer, f"the release role signed no target {offer.target!r}")
    signed_version = (info.custom or {}).get("version")
    if signed_version != offer.version:
        raise untrusted(offer, f"the signed target is release {signed_version!r}")
    sha = info.hashes.get("sha256")
    if sha is None:
        raise untrusted(offer, "the signed target has no SHA-256")
    if (offer.sha256, offer.length) != (sha, info.length):
        raise untrusted(offer, "the hub's length or SHA-256 differ from the signed target")
    return TrustedRelease(
        version=offer.version,
        expected=Expected(info.length, sha, info.path),
        url=release_url(info.path, sha),
        rollout=offer.rollout,
    )
