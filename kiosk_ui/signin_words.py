"""What the sign-in screen says after a wrong PIN or a lockout (issue 16: "lockout gives
no warning"): how many tries are left, and once locked, for how long and whom to ask.

It adds words only; the counting stays in :meth:`firmware.store.operators.Operators.authenticate`,
read back from what that reports: :meth:`~firmware.store.operators.Operators.failures_so_far`
(from its ``operator.signin_failed`` audit record) and the account's ``locked_until``.
"""

from __future__ import annotations

import time

from firmware.errors import KioskError
from firmware.store.operators import Operators

ASK_VI = "Cần dùng ngay: nhờ kỹ thuật viên mở khóa ở màn hình Bảo trì."
ASK_EN = "Needed now: ask the maintainer to unlock it on the Maintenance screen."


def explain(ops: Operators, code: str, exc: KioskError) -> KioskError:
    """``exc`` from authenticate(), with the tries left or the lockout's end and who helps."""
    code = code.strip()[:32]
    if exc.code == "bad_credentials":
        left = max(0, ops.max_failures - ops.failures_so_far(code))
        if left == 0:
            return exc
        return KioskError(
            exc.code,
            f"{exc.message_en} {left} tries left before this code is locked.",
            f"{exc.message_vi} Còn {left} lần thử trước khi mã bị tạm khóa.",
            status=exc.status,
        )
    if exc.code == "locked_out":
        op = ops.get(code)
        until = op.locked_until if op is not None and op.locked_until else None
        at = time.strftime("%H:%M", time.localtime(until)) if until else ""
        when_vi = f" (đến {at})" if at else ""
        when_en = f" (until {at})" if at else ""
        return KioskError(
            exc.code,
            f"{exc.message_en}{when_en} {ASK_EN}",
            f"{exc.message_vi}{when_vi} {ASK_VI}",
            status=exc.status,
        )
    return exc
