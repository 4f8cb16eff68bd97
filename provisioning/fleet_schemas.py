"""The fleet contract shared by the agent (kiosk side) and the hub: heartbeat and its answer.

Like :mod:`provisioning.schemas`, this is a module both sides import so the two cannot drift:
the agent builds a :class:`Heartbeat`, the hub validates the same model, and the answer is a
:class:`HeartbeatAnswer` on both ends. See ``docs/fleet-protocol.md``.

Keys are short and the JSON compact (no spaces) because every byte of a poll crosses a
256 kbit/s commune link 1,440 times a day; the model names say what each key means.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

HEARTBEAT_PATH = "/fleet/v1/heartbeat"
HEALTHZ_PATH = "/healthz"
JSON_TYPE = "application/json"

#: Largest heartbeat body the hub reads (a real one is ~0.5 KB).
MAX_HEARTBEAT_BODY = 16 * 1024
#: Most recent errors a heartbeat carries (older ones stay in the kiosk's journal).
MAX_ERRORS = 5

DEFAULT_INTERVAL_S = 60.0

#: Section -> keys of the kiosk settings the signed fleet configuration may set (one place:
#: the hub refuses to publish others, the admin form offers these, the kiosk checks them).
FLEET_KEYS: dict[str, frozenset[str]] = {
    "metadata": frozenset({"document_types", "party_codes_csv"}),
    "selection": frozenset({"periods", "document_types", "directions"}),
    "export": frozenset({"recipients_pem", "allowed_sticks"}),
    "signing": frozenset({"reason", "location", "field_name"}),
    "uplink": frozenset({"window", "bandwidth_kbit"}),
    "ui": frozenset({"idle_timeout_s", "idle_warning_s"}),
    "agent": frozenset({"heartbeat_s"}),
}


def unknown_fleet_keys(settings: dict[str, Any]) -> list[str]:
    """``section.key`` names in ``settings`` the fleet does not configure."""
    bad = []
    for section, values in settings.items():
        allowed = FLEET_KEYS.get(section)
        if allowed is None or not isinstance(values, dict):
            bad.append(section)
            continue
        bad += [f"{section}.{k}" for k in values if k not in allowed]
    return bad


class _Model(BaseModel):
    # ``ignore``, not ``forbid``: a newer agent may send keys an older hub does not know.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Versions(_Model):
    app: str = Field(description="Kiosk software version (firmware.__version__).")
    os: str = Field("", description="PRETTY_NAME of /etc/os-release.")
    cfg: int | None = Field(None, description="Version of the signed configuration applied.")


class Disk(_Model):
    free: int = Field(description="Bytes free on the data partition.")
    total: int = Field(description="Size of the data partition in bytes.")


class UploadQueue(_Model):
    wait: int = Field(0, description="Documents waiting to be sent to the hub.")
    fail: int = Field(0, description="Of them, how many failed at their last attempt.")
    oldest: str | None = Field(None, description="When the oldest waiting one was queued.")
    ok: str | None = Field(None, description="Last successful delivery (ISO 8601).")
    err: str | None = Field(None, description="Code of the last upload error, if any.")


class ExportQueue(_Model):
    wait: int = Field(0, description="Confidential documents waiting for a USB export.")


class ErrorNote(_Model):
    code: str
    at: str | None = None
    msg: str = ""


#: Update outcomes a kiosk reports (one place: the agent sends these, the hub counts them).
UPDATE_OUTCOMES = frozenset({"downloading", "committed", "rolled_back", "refused"})
#: Where an agent may also post one outcome outside a heartbeat (the updater's reporter).
UPDATE_REPORT_PATH = "/fleet/v1/updates/report"


#: The TUF role that signs release artifacts. Its key lives offline with the release team
#: (``sohoa fleet keys``); the hub never holds it, so the hub can assign a release (``rel``)
#: but cannot make one: the agent installs only what this role signed.
RELEASE_ROLE = "releases"
#: The target paths the release role is trusted for (the top-level targets delegation).
RELEASE_PATHS = ["releases/*"]
RELEASE_PREFIX = "releases/"
#: A release target ending so is a whole-OS RAUC bundle, not an application artifact.
OS_BUNDLE_SUFFIX = ".raucb"
#: Where the hub serves TUF targets (consistent snapshots: ``<dir>/<sha256>.<name>``).
TUF_TARGETS_PATH = "/tuf/targets/"
#: Where the hub serves TUF metadata (``<version>.root.json``, ``timestamp.json``, ...).
TUF_METADATA_PATH = "/tuf/metadata/"
#: The signed configuration's targets: fleet-wide, per group, per kiosk (the hub publishes
#: them, the agent looks them up; a group's name is checked by ``provisioning.hub.groups``).
FLEET_TARGET = "config/fleet.json"


def group_target(group: str) -> str:
    return f"config/groups/{group}.json"


def kiosk_target(kiosk_id: str) -> str:
    return f"config/kiosks/{kiosk_id}.json"


def release_target(artifact_name: str) -> str:
    """The TUF target name of a release artifact file (``sohoa-<v>-<arch>.tar``)."""
    return RELEASE_PREFIX + artifact_name


def release_url(target: str, sha256: str) -> str:
    """The hub path of a release target's bytes (resumable with HTTP Range)."""
    directory, name = target.rsplit("/", 1)
    return f"{TUF_TARGETS_PATH}{directory}/{sha256}.{name}"


class UpdateReport(_Model):
    """One update outcome of the kiosk: ``committed`` only after the local health gate."""

    version: str = Field(max_length=64, description="Release the outcome is about.")
    outcome: str = Field(
        max_length=32, description="downloading | committed | rolled_back | refused"
    )
    reason: str | None = Field(None, max_length=500, description="Why it was rolled back.")
    previous: str | None = Field(None, max_length=64, description="Release it came from.")
    at: str | None = Field(None, description="Kiosk clock of the outcome (ISO 8601).")


class ReleaseOffer(_Model):
    """The release the hub assigns to this kiosk now (the kiosk checks it against TUF's
    release role, which the hub does not hold)."""

    version: str
    target: str = Field(description="TUF target name of the release artifact.")
    sha256: str
    length: int
    rollout: str = Field(description="Rollout id (for the kiosk's journal and reports).")


class Heartbeat(_Model):
    """What a kiosk says about itself every interval."""

    v: int = 1
    seq: int = Field(0, description="Heartbeats sent since the agent started.")
    at: str = Field(description="Kiosk clock when sent (ISO 8601 UTC).")
    ver: Versions
    up: float = Field(0, description="Seconds since boot.")
    boot: str = Field("", description="Boot id (/proc/sys/kernel/random/boot_id).")
    disk: Disk
    upq: UploadQueue = UploadQueue()
    exq: ExportQueue = ExportQueue()
    pages: int = Field(0, description="Pages captured today (kiosk local date).")
    dev: dict[str, bool] = Field(
        default_factory=dict, description="Device health: camera, scanner, pedal, leds, ocr."
    )
    audit: str = Field("", description="Head hash of the kiosk's audit chain.")
    clk: float | None = Field(
        None, description="Kiosk clock minus hub clock in seconds (from the previous answer)."
    )
    errs: list[ErrorNote] = Field(default_factory=list, description="Last errors, newest last.")
    cfg_err: str | None = Field(
        None, description="Why the newest signed configuration was refused, if it was."
    )
    upd: list[UpdateReport] = Field(
        default_factory=list,
        max_length=10,
        description="Update outcomes not yet acknowledged (older agents send none).",
    )


class HeartbeatAnswer(_Model):
    """The hub's answer: when to come back, the hub's clock, what changed."""

    interval: float = Field(DEFAULT_INTERVAL_S, description="Seconds until the next heartbeat.")
    now: str = Field(description="Hub clock (ISO 8601 UTC), for the kiosk's clock offset.")
    cfg: int | None = Field(
        None, description="TUF timestamp version the hub publishes (agent refreshes on change)."
    )
    cmds: list[dict[str, Any]] = Field(
        default_factory=list, description="Signed commands for this kiosk, not yet reported."
    )
    rel: ReleaseOffer | None = Field(
        None, description="Release assigned to this kiosk, only inside its maintenance window."
    )


def compact_json(obj: Any) -> bytes:
    """The wire form: UTF-8, no spaces, ``None`` fields left out by the caller."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def dump_model(model: BaseModel) -> bytes:
    return compact_json(model.model_dump(mode="json", exclude_none=True, exclude_defaults=False))


# --- remote commands ---------------------------------------------------------------------------

COMMAND_TYPE = "sohoa-command"
COMMAND_RESULT_PATH = "/fleet/v1/commands/{id}/result"
#: What the hub may ask a kiosk to do (the agent runs exactly these).
COMMAND_KINDS = frozenset(
    {"collect_logs", "rekey", "resync_config", "restart_service", "reboot", "doctor"}
)
#: How a command ended, as the agent reports it.
RESULT_STATES = frozenset({"done", "failed", "refused"})
MAX_RESULT_BODY = 64 * 1024


class CommandRefused(Exception):
    """A command the agent will not run; ``code`` and ``reason`` go back to the hub."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class CommandResult(_Model):
    status: str
    code: str | None = None
    reason: str | None = None
    output: dict[str, Any] | None = None
    finished_at: str


def signed_bytes(obj: dict[str, Any]) -> bytes:
    """The canonical JSON a hub signature covers: every field but ``sig``."""
    body = {k: v for k, v in obj.items() if k != "sig"}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def verify_command(cmd: dict[str, Any], ca_cert: Any, kiosk_id: str, now: Any) -> dict[str, Any]:
    """Check a command from a heartbeat answer: signed by a hub signing certificate the fleet
    CA issued, for this kiosk, of a known kind, not expired at ``now`` (an aware datetime).
    Raise :class:`CommandRefused` saying why not."""
    import base64
    import binascii
    from datetime import datetime

    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    need = ("type", "id", "kiosk", "kind", "args", "issued_at", "expires_at", "signer", "sig")
    if not isinstance(cmd, dict) or any(k not in cmd for k in need):
        raise CommandRefused("command_malformed", "command lacks fields")
    if cmd["type"] != COMMAND_TYPE or not isinstance(cmd["args"], dict):
        raise CommandRefused("command_malformed", "not a Sohoa command")
    try:
        signer = x509.load_der_x509_certificate(base64.b64decode(cmd["signer"], validate=True))
        sig = base64.b64decode(cmd["sig"], validate=True)
        expires = datetime.fromisoformat(cmd["expires_at"])
    except (binascii.Error, ValueError, TypeError):
        raise CommandRefused("command_malformed", "signature or dates unreadable") from None
    try:
        signer.verify_directly_issued_by(ca_cert)
        ku = signer.extensions.get_extension_for_class(x509.KeyUsage).value
        key = signer.public_key()
        if not ku.digital_signature or not isinstance(key, ec.EllipticCurvePublicKey):
            raise ValueError("not a signing certificate")
        key.verify(sig, signed_bytes(cmd), ec.ECDSA(hashes.SHA256()))
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        raise CommandRefused("command_bad_signature", "not signed by the fleet's hub") from None
    if cmd["kiosk"] != kiosk_id:
        raise CommandRefused("command_wrong_kiosk", f"meant for {cmd['kiosk']}")
    if cmd["kind"] not in COMMAND_KINDS:
        raise CommandRefused("command_unknown", f"unknown kind {cmd['kind']!r}")
    if now >= expires:
        raise CommandRefused("command_expired", f"expired at {cmd['expires_at']}")
    return cmd
