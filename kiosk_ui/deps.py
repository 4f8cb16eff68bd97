"""What every router of the JSON API depends on: the UI context, who is signed in, and in
which role.

One place decides who may call what: :func:`require_role` (signed in, role enough) and the
annotated dependencies built from it. ``touch`` says whether the call counts as activity:
calls the screen makes by itself (status bar, live view, event stream) do not, so an
unattended kiosk still signs out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from firmware.errors import KioskError
from firmware.export.selection import may_export
from firmware.store.operators import Session
from kiosk_ui.context import Ui


def get_ui(request: Request) -> Ui:
    """The UI context of the app handling ``request`` (one per :func:`create_app`)."""
    return request.app.state.ui


def require_role(role: str, touch: bool) -> Callable[[Request], Session]:
    """A dependency: the signed-in session, 401 without one, 403 when ``role`` is not
    enough; ``touch`` counts the call as the operator's activity (idle sign-out)."""

    def dep(request: Request) -> Session:
        ui = get_ui(request)
        ui.expire_idle()
        s = ui.session(request, touch=touch)
        if s is None:
            raise KioskError(
                "not_signed_in",
                "Sign in first.",
                "Hãy đăng nhập trước.",
                status=401,
            )
        if not s.operator.may(role):
            raise KioskError(
                "forbidden",
                f"This needs the {role} role.",
                "Tài khoản của bạn không có quyền làm việc này.",
                status=403,
            )
        request.state.session = s
        return s

    return dep


def require_exporter(s: Annotated[Session, Depends(require_role("operator", True))]) -> Session:
    """Signed in and allowed to export (:func:`firmware.export.selection.may_export`, the
    rule the exporter itself enforces; a maintainer may not)."""
    if not may_export(s.operator.role):
        raise KioskError(
            "forbidden",
            "Only an archivist may export confidential documents.",
            "Chỉ cán bộ lưu trữ mới được xuất tài liệu mật.",
            status=403,
        )
    return s


#: A signed-in operator acting (touches the session).
Actor = Annotated[Session, Depends(require_role("operator", True))]
#: A signed-in operator's screen refreshing by itself (does not touch the session).
Viewer = Annotated[Session, Depends(require_role("operator", False))]
Maintainer = Annotated[Session, Depends(require_role("maintainer", True))]
Archivist = Annotated[Session, Depends(require_role("archivist", True))]
ArchivistView = Annotated[Session, Depends(require_role("archivist", False))]
#: An archivist on the Export screen (refused with the export's own words).
ExportArchivist = Annotated[Session, Depends(require_exporter)]
UiDep = Annotated[Ui, Depends(get_ui)]


async def run(fn: Any, *a: Any, **kw: Any) -> Any:
    """Run blocking kiosk work (camera, disk, SQLite) off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, lambda: fn(*a, **kw))
