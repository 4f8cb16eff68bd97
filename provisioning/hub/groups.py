"""What a fleet group (a district, a commune type) may be called: the one rule.

A group's name becomes part of file names in the TUF repository (its delegated role's
metadata, ``config/groups/<name>.json``) and of every kiosk's record, so it is a short
lowercase slug without diacritics ("huyen-son-tinh"), never a path ("x/../y" was accepted
as a token's group) nor blank (spaces silently became "default").
"""

from __future__ import annotations

import re

from provisioning.hub.refusals import Refusal

GROUP_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")


class GroupNameError(Refusal, ValueError):
    """A ValueError too: the callers that refused a bad token argument still do."""


def check_group(name: str) -> str:
    """``name`` if it is a valid group name, else :class:`GroupNameError`."""
    if isinstance(name, str) and GROUP_RE.fullmatch(name):
        return name
    raise GroupNameError(
        "bad_group",
        f"Group name {name!r}: lowercase letters without diacritics, digits and '-', "
        "at most 64 (e.g. huyen-son-tinh).",
        f"Tên nhóm {name!r} không hợp lệ: chỉ gồm chữ thường không dấu, số và dấu '-', "
        "tối đa 64 ký tự (ví dụ huyen-son-tinh).",
    )
