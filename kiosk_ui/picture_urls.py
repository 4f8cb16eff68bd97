"""How a page picture's URL is spelled: one function for the server's HTML, the page views
the script reads and the events it gets. Two spellings of the same version (``:`` raw in
one, ``%3A`` in the other) made the browser fetch every thumbnail twice."""

from __future__ import annotations

from urllib.parse import quote

#: The version a just-captured page's thumbnail is asked for until the list is re-read
#: (which brings the page's own version).
FRESH_VERSION = "new"


def page_picture_url(page_id: str, kind: str, version: str = "") -> str:
    """``kind``: "thumb" or "preview"; ``version`` makes a changed picture a new URL."""
    url = f"/api/v1/pages/{quote(page_id, safe='')}/{kind}.jpg"
    return f"{url}?v={quote(version, safe='')}" if version else url
