"""Kiosk configuration: one TOML file plus ``SOHOA_*`` environment overrides, validated.

Precedence (highest first): environment (``SOHOA_CAMERA__BACKEND=sim``), the TOML file
(``--config`` or ``SOHOA_CONFIG``, default ``/etc/sohoa/sohoa.toml`` if it exists), defaults.
Every field carries a description: ``sohoa config --explain`` prints them, and
``sohoa.example.toml`` is generated from the same text, so the documentation cannot drift.

A bad file must stop the kiosk at start with the file, the line and the reason, because
provincial IT staff read the journal, not a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from sohoa_common.tomlfile import ConfigError as ConfigError  # the kiosk's settings error
from sohoa_common.tomlfile import merge_overrides, read_toml, validation_error

DEFAULT_CONFIG_PATH = Path("/etc/sohoa/sohoa.toml")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CameraConfig(_Section):
    backend: Literal["sim", "folder", "opencv", "picamera2", "none"] = Field(
        "sim",
        description="Camera backend: sim (rendered documents), folder (replays image files), "
        "opencv (V4L2/UVC document camera), picamera2 (Raspberry Pi camera), none.",
    )
    source: str = Field(
        "", description="folder: directory of images; opencv: device index or path (/dev/video0)."
    )
    width: int = Field(4000, ge=64, le=10000, description="Still capture width in pixels.")
    height: int = Field(3000, ge=64, le=10000, description="Still capture height in pixels.")
    jpeg_quality: int = Field(92, ge=50, le=100, description="JPEG quality of captured frames.")
    seed: int = Field(1, description="sim: random seed, so demo runs are repeatable.")
    layout: Literal["mixed", "party", "state"] = Field(
        "mixed", description="sim: which document layout to render."
    )


class PedalConfig(_Section):
    backend: Literal["gpio", "hid", "mock", "none"] = Field(
        "mock",
        description="gpio (foot switch on a GPIO pin), hid (USB pedal that types a key, "
        "read with evdev), mock (gpiozero MockFactory pin, for development), none.",
    )
    pin: int = Field(17, ge=0, le=40, description="gpio: BCM pin of the pedal (to ground).")
    long_press_s: float = Field(
        1.5, gt=0.2, le=10, description="Holding the pedal this long finishes the document."
    )
    hid_device: str = Field("", description="hid: /dev/input/eventN or by-id path; empty = auto.")
    hid_key: str = Field("KEY_B", description="hid: the key code the pedal sends.")


class LedsConfig(_Section):
    backend: Literal["gpio", "mock", "none"] = Field(
        "mock", description="gpio (RGB LED on three GPIO pins), mock (MockFactory), none."
    )
    red_pin: int = Field(22, ge=0, le=40, description="BCM pin of the red channel.")
    green_pin: int = Field(23, ge=0, le=40, description="BCM pin of the green channel.")
    blue_pin: int = Field(24, ge=0, le=40, description="BCM pin of the blue channel.")
    buzzer_pin: int | None = Field(25, description="BCM pin of the buzzer, or empty for none.")


class PipelineConfig(_Section):
    output_dpi: int = Field(
        300,
        ge=300,
        le=600,
        description="Resolution of the flattened page "
        "used for OCR (the archival image is resampled from it).",
    )
    preview_width: int = Field(
        900, ge=200, le=2000, description="Width in pixels of the preview shown after capture."
    )
    blur_threshold: float = Field(
        0.30,
        ge=0,
        description="Below this sharpness score (ink edge steepness / ink contrast, about "
        "0.4 / blur sigma in pixels at 80 dpi) a page is reported as blurred.",
    )
    frame_px_per_mm: float = Field(
        0,
        ge=0,
        description="Camera calibration: frame pixels per millimetre on the desk. Needed to "
        "tell A3 from A4 (same shape); 0 = unknown (a sqrt(2) page is taken as A4).",
    )
    dark_threshold: float = Field(
        70, ge=0, le=255, description="Mean brightness of the paper below which it is too dark."
    )
    glare_fraction: float = Field(
        0.015, ge=0, le=1, description="Fraction of blown-out paper that counts as glare."
    )
    blank_ink_fraction: float = Field(
        0.002, ge=0, le=1, description="Pages with less ink than this fraction are blank."
    )


class OcrConfig(_Section):
    languages: str = Field("vie+eng", description="Tesseract languages (vie first).")
    workers: int = Field(
        1,
        ge=1,
        le=8,
        description="OCR worker processes (one Tesseract engine each, ~200 MB). One keeps "
        "up with a page every 2 s on 2 cores and leaves the other core to capture and the "
        "screen; raise it only on boxes with more cores and memory.",
    )
    tessdata: str = Field(
        "", description="Directory with *.traineddata; empty = the system's tessdata."
    )
    max_backlog: int = Field(
        50, ge=1, description="Pages waiting for OCR before capture asks the clerk to wait."
    )


class SealConfig(_Section):
    image_dpi: int = Field(
        200,
        ge=200,
        le=600,
        description="Resolution of the colour image "
        "layer of the archival PDF (rules require at least 200 dpi).",
    )
    jpeg_quality: int = Field(
        50,
        ge=20,
        le=95,
        description="JPEG quality of the archival image layer (50 keeps a "
        "typical A4 text page under 200 KB at 200 dpi).",
    )


class AllowedStickConfig(_Section):
    vid: str = Field(description="USB vendor id, four hex digits (lsusb: 0781).")
    pid: str = Field(description="USB product id, four hex digits (lsusb: 5581).")
    serial: str = Field(description="The stick's USB serial number (iSerial).")
    label: str = Field("", description="Name people use for the stick (e.g. USB số 1).")


class ExportConfig(_Section):
    recipients: list[str] | None = Field(
        None,
        description="X.509 certificates (PEM or DER files) of the receiving office; every "
        "export is encrypted to all of them. Example: "
        'recipients = ["/etc/sohoa/recipients/luu-tru-tinh.pem"]',
    )
    allowed_sticks: list[AllowedStickConfig] | None = Field(
        None,
        description="USB sticks registered for confidential export (VID, PID and serial; "
        "every interface must be mass storage). Example: allowed_sticks = "
        '[{vid = "0781", pid = "5581", serial = "4C530001", label = "USB 1"}]',
    )
    retention: Literal["immediate"] | int = Field(
        "immediate",
        description="When local copies of exported confidential documents are purged: "
        '"immediate" (once the export is verified) or a number of days after it.',
    )
    backend: Literal["sim", "udisks2"] = Field(
        "sim",
        description="USB storage backend: udisks2 (real sticks, mounted through udisks2 "
        "over D-Bus) or sim (directories standing for sticks, for development).",
    )
    sim_dir: str = Field(
        "", description="sim: directory of simulated sticks; empty = <data_dir>/usb-sim."
    )

    @field_validator("retention")
    @classmethod
    def _retention_days(cls, v: Any) -> Any:
        if isinstance(v, int) and v < 0:
            raise ValueError('retention must be "immediate" or a number of days >= 0')
        return v


class SigningConfig(_Section):
    backend: Literal["none", "pkcs12", "pkcs11"] = Field(
        "none",
        description="PAdES signature on every sealed PDF: none, pkcs12 (key file) or "
        "pkcs11 (smart card / token / HSM).",
    )
    key_file: str = Field("", description="pkcs12: the .p12/.pfx file (key, certificate, chain).")
    passphrase_file: str = Field(
        "", description="pkcs12: file holding the key file's passphrase (root-only); empty = none."
    )
    pkcs11_module: str = Field(
        "",
        description="pkcs11: the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so or "
        "the token vendor's module.",
    )
    token_label: str = Field("", description="pkcs11: label of the token holding the key.")
    key_label: str = Field("", description="pkcs11: label of the private key on the token.")
    cert_label: str = Field(
        "", description="pkcs11: label of the certificate; empty = same as key_label."
    )
    pin_file: str = Field("", description="pkcs11: file holding the user PIN (root-only).")
    field_name: str = Field(
        "SohoaSignature", description="Name of the (invisible) signature field in the PDF."
    )
    reason: str = Field(
        "Số hóa tài liệu lưu trữ / Digitized archival copy",
        description="Reason written into the signature.",
    )
    location: str = Field("", description="Location written into the signature (office name).")
    trust_roots: list[str] | None = Field(
        None,
        description="CA certificates (PEM files) the document screen checks a sealed PDF's "
        "signature against; empty = the signature is shown, not judged trusted.",
    )


class MetadataConfig(_Section):
    document_types: str = Field(
        "",
        description="Document types added to or overriding the built-in list, as "
        "'CODE=Name; CODE=Name' (e.g. 'ĐA=Đề án'); empty = built-in list (CV, NQ, QĐ, CT, KL, "
        "BC, TTr, TB, HD, KH, BB, QC, QĐi, TT, CTr).",
    )
    low_confidence: float = Field(
        0.8,
        ge=0,
        le=1,
        description="Extracted fields below this confidence are highlighted for the clerk.",
    )
    cover_sheets: bool = Field(
        True,
        description="Look for QR cover sheets and batch separators (printed with `sohoa "
        "coversheet`) in every captured frame: a cover sheet starts a new document with its "
        "metadata, a separator finishes the current one; neither is archived as a page.",
    )
    party_codes_file: str = Field(
        "",
        description="CSV reference list of Party organization and member codes (columns "
        "code/Mã, kind/Loại = org or member, optional name/Tên); sealing refuses codes not "
        "on it. Empty = codes are only checked for their form (until the fleet supplies it).",
    )

    @field_validator("document_types")
    @classmethod
    def _types_readable(cls, v: str) -> str:
        from firmware.metadata.types import parse_document_types

        parse_document_types(v)  # raises ValueError with the bad entry
        return v


class SelectionConfig(_Section):
    periods: str = Field(
        "",
        description="Periods chosen for digitization (selective, not bulk): years or year "
        "ranges or ISO date ranges, separated by ';' (e.g. '2015-2020; 2023' or "
        "'2020-07-01..2025-06-30'); empty = any date. Rules added with `sohoa register "
        "select add` count too; with no rule at all everything is selected.",
    )
    document_types: str = Field(
        "",
        description="Type codes or names chosen for digitization, separated by ',' "
        "(e.g. 'NQ, QĐ, CT, KL'); empty = every type.",
    )
    directions: str = Field(
        "",
        description="Registers chosen: 'in' (incoming), 'out' (outgoing) or both; empty = both.",
    )

    @model_validator(mode="after")
    def _readable(self) -> SelectionConfig:
        from firmware.register.periods import parse_directions, parse_periods

        parse_periods(self.periods)  # raises ValueError naming the bad period
        parse_directions(self.directions)
        return self


class ScannerConfig(_Section):
    enabled: bool = Field(
        False, description="Use a SANE document scanner (flatbed or feeder) as a capture source."
    )
    device: str = Field(
        "",
        description="SANE device name (e.g. fujitsu:fi-7160:12345, test:0); empty = the "
        "only scanner present, or the one whose model contains scanner.model.",
    )
    model: str = Field("", description="Pick the scanner whose model contains this text.")
    source: Literal["flatbed", "adf", "adf-duplex"] = Field(
        "flatbed", description="flatbed, adf (sheet feeder) or adf-duplex (both sides)."
    )
    dpi: int = Field(300, ge=200, le=1200, description="Scan resolution (at least 200 dpi).")
    mode: Literal["color", "gray"] = Field(
        "color", description="color (archival copies are colour) or gray."
    )
    paper: Literal["A3", "A4", "A5", "B5", "Letter", "Legal"] = Field(
        "A4", description="Paper size to scan."
    )
    timeout_s: float = Field(
        60, gt=1, le=600, description="Longest wait for the scanner at any step (per page)."
    )
    drop_blank_backs: bool = Field(
        True, description="Duplex: drop back sides that the blank-page check finds empty."
    )


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1), brackets allowed."""
    import ipaddress

    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class UiConfig(_Section):
    host: str = Field(
        "127.0.0.1",
        description="Address the kiosk UI listens on. Loopback only (the touchscreen is "
        "on the same box); anything else also needs allow_remote = true.",
    )
    allow_remote: bool = Field(
        False,
        description="Let the UI listen on a non-loopback address (for example a service "
        "screen on a separate network). Off: a non-loopback host is refused at start.",
    )
    port: int = Field(8080, ge=1, le=65535, description="Port of the kiosk UI.")
    idle_timeout_s: float = Field(
        300,
        ge=30,
        le=7200,
        description="Sign the clerk out after this long without a touch "
        "(the open document is parked, never lost).",
    )
    idle_warning_s: float = Field(
        30, ge=5, le=300, description="Warn this long before the idle sign-out."
    )
    lockout_s: float = Field(
        300, ge=30, le=86400, description="A staff code stays locked this long after 5 wrong PINs."
    )
    auto_capture: bool = Field(
        False, description="Capture automatically when a new page lies still under the camera."
    )

    @model_validator(mode="after")
    def _loopback_unless_allowed(self) -> UiConfig:
        if not is_loopback_host(self.host) and not self.allow_remote:
            raise ValueError(
                f"host {self.host!r} is not a loopback address; the kiosk UI listens on "
                "127.0.0.1 only unless [ui] allow_remote = true"
            )
        return self


class UplinkConfig(_Section):
    enabled: bool = Field(
        True,
        description="Send ordinary sealed documents to the provincial hub over the WAN "
        "(they are queued either way; confidential documents never are).",
    )
    hub_url: str = Field(
        "",
        description="Hub address (https://... only: documents never travel in clear) "
        "overriding the one stored at enrollment; empty = the enrolled hub.",
    )
    chunk_kb: int = Field(
        256,
        ge=16,
        le=65536,
        description="Largest upload request (KiB). Each request is sized to about one "
        "second of the measured link speed (at least 16 KiB) and halved after a drop, since "
        "a request cut mid-way is sent again whole.",
    )
    bandwidth_kbit: int = Field(
        0,
        ge=0,
        description="Upload speed cap in kbit/s so the office's link stays usable; 0 = no cap.",
    )
    window: str = Field(
        "",
        description='Hours when uploads may run, "HH:MM-HH:MM" local time (may span '
        'midnight, e.g. "18:00-07:00"); empty = any time.',
    )
    retention_days: int = Field(
        30,
        ge=0,
        description="Days the local copy of a delivered document is kept (the clerk can still "
        "open recent PDFs on the kiosk); 0 = removed as soon as the hub's receipt is "
        "verified. The catalog row, metadata and audit always stay.",
    )
    backoff_base_s: float = Field(
        5, gt=0, le=3600, description="First wait after a failed upload (doubled each time)."
    )
    backoff_max_s: float = Field(
        1800, gt=0, le=86400, description="Longest wait between two upload attempts."
    )
    renew_fraction: float = Field(
        2 / 3,
        gt=0,
        lt=1,
        description="Renew the device certificate once this share of its lifetime has passed.",
    )
    connect_timeout_s: float = Field(15, gt=0, le=600, description="Longest wait to reach the hub.")
    io_timeout_s: float = Field(
        60, gt=0, le=3600, description="Longest silence from the hub while sending or reading."
    )

    @field_validator("hub_url")
    @classmethod
    def _hub_url_https(cls, v: str) -> str:
        from firmware.uplink.hub_url import https_problem

        problem = https_problem(v) if v.strip() else None
        if problem is not None:
            raise ValueError(problem)
        return v.strip()

    @field_validator("window")
    @classmethod
    def _window_readable(cls, v: str) -> str:
        from firmware.uplink.window import parse_window

        parse_window(v)  # raises ValueError naming the problem
        return v


class UpdatesConfig(_Section):
    """Software updates of the kiosk application by the agent (A/B release directories)."""

    release_root: Path = Field(
        Path("/opt/sohoa"),
        description="Holds releases/<version>/ (one virtualenv each) and the `current` link.",
    )
    supervisor: Literal["systemd", "process"] = Field(
        "systemd",
        description="What restarts the kiosk service after a switch: systemd (the kiosk), or "
        "process (the agent runs `current/bin/sohoa <service_args>` itself: development, tests).",
    )
    service_args: list[str] = Field(
        ["run"],
        description="With supervisor = process: the arguments of `current/bin/sohoa`.",
    )
    trial_s: float = Field(
        300, ge=0, description="How long the new release must run without crash-looping."
    )
    max_restarts: int = Field(
        2, ge=0, description="Automatic service restarts tolerated during the trial."
    )
    bootstrap_deps: list[Path] = Field(
        [],
        description="Where the first release under an empty release_root takes its "
        "dependencies from (a kiosk always has a release from its image; tests use this).",
    )
    os_updates: bool = Field(
        False,
        description="Take whole-OS updates (RAUC bundles, *.raucb targets of the release role) "
        "the hub assigns; the OS image turns it on (it has rauc and two root slots).",
    )
    rauc_conf: Path | None = Field(
        None, description="rauc's system.conf for OS updates; unset = /etc/rauc/system.conf."
    )


class AgentConfig(_Section):
    """The fleet agent (``sohoa agent``): heartbeat, certificate renewal, signed config."""

    heartbeat_s: float = Field(
        60,
        ge=5,
        le=3600,
        description="Seconds between two heartbeats to the hub (the hub may ask for longer, "
        "and the signed fleet configuration may set it per group).",
    )
    backoff_base_s: float = Field(
        10, gt=0, le=3600, description="First wait after a failed heartbeat (then doubled)."
    )
    backoff_max_s: float = Field(
        900, gt=0, le=86400, description="Longest wait between heartbeats while the hub fails."
    )
    clock_tolerance_s: float = Field(
        300,
        gt=0,
        description="A kiosk clock further than this from the hub's is reported as wrong, "
        "and expiry of signed metadata is then not acted on.",
    )
    tuf_root: str = Field(
        "",
        description="Trusted root metadata of the fleet's signed configuration as shipped in "
        "the image (e.g. /etc/sohoa/fleet-root.json); empty = take version 1 from the hub "
        "at the first sync, over the connection pinned to the enrolled fleet CA.",
    )
    system: Literal["auto", "systemd", "recording"] = Field(
        "auto",
        description="How remote restart/reboot commands reach the OS: systemd (systemctl), "
        "recording (only records them: development and the demo), auto = systemd when the "
        "agent runs as a systemd service.",
    )
    config_refresh_s: float = Field(
        3600,
        ge=60,
        description="Check the signed configuration at least this often, even when the "
        "hub's heartbeat answer says nothing changed (freeze protection).",
    )
    state_dir: Path | None = Field(
        None,
        description="The agent's own directory (state, command journal, TUF metadata, "
        "updates, and the applied configuration the kiosk reads); the agent runs as its own "
        "user and never writes into the kiosk's data dir. Empty = beside the data dir, "
        "<data_dir>-agent: /var/lib/sohoa-agent on the image.",
    )


class Settings(BaseSettings):
    """All kiosk settings. Sections map to ``[camera]``, ``[pedal]``... in the TOML file."""

    model_config = SettingsConfigDict(
        env_prefix="SOHOA_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Field(
        Path("./var"),
        description="Where catalog.db, spool/, work/, sealed/, outbox/ live "
        "(/var/lib/sohoa on the kiosk).",
    )
    kiosk_id: str = Field("dev-kiosk", description="Name of this kiosk in the fleet and audit.")
    language: Literal["vi", "en"] = Field("vi", description="UI language: vi (default) or en.")
    camera: CameraConfig = CameraConfig()
    pedal: PedalConfig = PedalConfig()
    leds: LedsConfig = LedsConfig()
    pipeline: PipelineConfig = PipelineConfig()
    ocr: OcrConfig = OcrConfig()
    seal: SealConfig = SealConfig()
    scanner: ScannerConfig = ScannerConfig()
    capture_source: Literal["camera", "scanner"] = Field(
        "camera", description="What the pedal and the capture button use when both exist."
    )
    ui: UiConfig = UiConfig()
    signing: SigningConfig = SigningConfig()
    metadata: MetadataConfig = MetadataConfig()
    selection: SelectionConfig = SelectionConfig()
    export: ExportConfig = ExportConfig()
    uplink: UplinkConfig = UplinkConfig()
    agent: AgentConfig = AgentConfig()
    updates: UpdatesConfig = UpdatesConfig()

    @field_validator("kiosk_id")
    @classmethod
    def _kiosk_id_shape(cls, v: str) -> str:
        # It is written into USBGuard rules, certificate names and file names.
        from firmware.store.identifiers import is_kiosk_id

        if not is_kiosk_id(v):
            raise ValueError(
                f"{v!r} is not a kiosk id: 1-64 lower-case letters, digits, '-', '.' or '_', "
                "starting and ending with a letter or digit"
            )
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the file (init kwargs carry the file's content).
        return (env_settings, init_settings)


def load_settings(path: Path | str | None = None, **overrides: Any) -> Settings:
    """Load and validate settings; raise :class:`ConfigError` with file:line: reason."""
    if path is None:
        env_path = os.environ.get("SOHOA_CONFIG")
        if env_path:
            path = Path(env_path)
        elif DEFAULT_CONFIG_PATH.exists():
            path = DEFAULT_CONFIG_PATH
    data: dict[str, Any] = {}
    text = ""
    p: Path | None = Path(path) if path is not None else None
    if p is not None:
        data, text = read_toml(p)
    check_environment()
    merge_overrides(data, overrides)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise validation_error(exc, p, text, "; see sohoa.example.toml") from None


#: Environment variables beginning ``SOHOA_`` that are not settings (other tools' own).
_FOREIGN_ENV_PREFIXES = ("SOHOA_HUB_",)


def check_environment(environ: dict[str, str] | None = None) -> None:
    """Refuse ``SOHOA_<SECTION>__<KEY>`` naming a section that does not exist: pydantic
    would silently ignore ``SOHOA_UII__HOST``, and the kiosk would run with a setting the
    technician believes changed."""
    env = os.environ if environ is None else environ
    sections = {
        name
        for name, f in Settings.model_fields.items()
        if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)
    }
    for key in env:
        upper = key.upper()
        if not upper.startswith("SOHOA_") or "__" not in upper:
            continue
        if upper.startswith(_FOREIGN_ENV_PREFIXES):
            continue
        section = upper[len("SOHOA_") :].split("__", 1)[0].lower()
        if section not in sections:
            raise ConfigError(
                f"environment variable {key}: no section [{section}] (check the spelling; "
                f"sections: {', '.join(sorted(sections))})"
            )


def explain() -> str:
    """Render every setting with its default and description as a commented TOML file."""
    out = [
        "# Sohoa kiosk configuration (generated by `sohoa config --explain`).",
        "# Every setting may also be given in the environment: SOHOA_<SECTION>__<KEY>.",
        "",
    ]

    def fmt(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return repr(value)
        if value is None:
            return '""  # none'
        if isinstance(value, list):
            return "[" + ", ".join(fmt(v) for v in value) + "]"
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'

    sections = []
    for name, field in Settings.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            sections.append((name, ann))
            continue
        out.append(f"# {field.description}")
        out.append(f"{name} = {fmt(field.default)}")
    for name, model in sections:
        out.append("")
        out.append(f"[{name}]")
        for key, field in model.model_fields.items():
            out.append(f"# {field.description}")
            line = f"{key} = {fmt(field.default)}"
            if field.default is None:
                line = f"# {key} ="
            out.append(line)
    return "\n".join(out) + "\n"
