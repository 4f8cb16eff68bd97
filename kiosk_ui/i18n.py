"""Translations: Babel ``.po`` catalogs read at start-up (no compile step for a fresh checkout).

Message ids are the English text; ``vi`` is the kiosk's first language and its catalog must
translate every id (a test checks this against the templates and code), ``en`` falls back
to the id. JavaScript gets the few strings it needs as one JSON object in the page, so the
browser never downloads a whole catalog.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LANGS = ("vi", "en")
DEFAULT_LANG = "vi"
I18N_DIR = Path(__file__).parent / "i18n"

#: Strings the browser scripts show (status changes, dialogs, the keyboard).
JS_MESSAGES = (
    "Ready: press the pedal or Capture page",
    "Capturing...",
    "Processing...",
    "pages",
    "Retake",
    "must be retaken",  # the Scan screen's note on a page a quality gate sent back
    "Delete",
    "Rotate",
    "Keep this page",
    "Move earlier",
    "Move later",
    "Close",
    "Page",
    "OK",
    "Delete this page?",
    "Signed out after inactivity",
    "The connection to the kiosk was lost. Retrying...",
    "Saved",
    "Camera",
    "Pedal",
    "Not connected",
    "Working",
    "Top secret documents are not digitized.",
    "Date must be written as day/month/year, e.g. 10/04/2025.",
    "Auto capture is on: hold the page still",
    # QR cover sheets and batch separators on the Scan screen
    "Cover sheet read:",
    "Batch separator: the next document begins",
    # the review form filled from the register
    "from the register",
    "please check",
    "The register entry filled the form.",
    # the status bar's Network item
    "Last delivery:",
    # the hub's enrollment QR shown to the camera
    "Enrolled with the hub",
    "This kiosk is already enrolled with the hub",
    # the Export screen and the status bar's USB item
    "Waiting",
    "Writing...",
    "Written, checking...",
    "Exported",
    "Failed",
    "Export",
    "Select none",
    "Select all",
    "Exporting...",
    "Checking the files on the USB stick...",
    "Do not remove the USB",
    "Safe to remove the USB",
    "No USB stick",
    "Registered USB stick",
    "USB stick refused",
    "Several USB sticks",
    "Export finished",
    "Every file was read back from the USB stick and checked.",
    "The USB stick could not be ejected safely: do not remove it yet; call IT support.",
)


@cache
def catalog(lang: str) -> dict[str, str]:
    """msgid -> translation for ``lang`` (empty translations are left out: fall back)."""
    path = I18N_DIR / lang / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        cat = read_po(fh, locale=lang)
    return {
        m.id: m.string
        for m in cat
        if m.id and isinstance(m.id, str) and m.string and isinstance(m.string, str)
    }


class Translator:
    """``_("English text")`` in the chosen language; unknown ids come back unchanged."""

    def __init__(self, lang: str):
        self.lang = lang if lang in LANGS else DEFAULT_LANG
        self._messages = catalog(self.lang)

    def _(self, msgid: str, **kw: object) -> str:
        text = self._messages.get(msgid, msgid)
        return text.format(**kw) if kw else text

    gettext = _

    def js_messages(self) -> dict[str, str]:
        return {m: self._(m) for m in JS_MESSAGES}
