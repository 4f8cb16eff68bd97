"""Operator accounts (maintainers only): list, add, unlock, disable, enable, new PIN.
Accounts are never deleted; every change is audited by :mod:`firmware.store.operators`."""

from __future__ import annotations

import secrets
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from firmware.store.catalog import NotFound
from kiosk_ui.deps import Maintainer, UiDep, run
from kiosk_ui.schemas.operators import (
    Disabled,
    Enabled,
    NewOperator,
    NewPin,
    OperatorAccount,
    Unlocked,
)

# tagged "maintenance": the accounts are part of the maintenance screen
router = APIRouter(prefix="/api/v1", tags=["maintenance"])


class OperatorRequest(BaseModel):
    code: str = Field("", max_length=12, description="empty: the next free staff code")
    name: str = Field(..., max_length=120)
    role: Literal["operator", "archivist", "maintainer"] = "operator"
    pin: str = Field("", max_length=12, description="empty: a random PIN, returned once")


def next_code(codes: list[str]) -> str:
    """The next free 4-digit staff code after the highest numeric one (1001 first)."""
    numbers = [int(c) for c in codes if c.isdigit()]
    return str(max([1000, *numbers]) + 1)


def new_pin() -> str:
    """A random 6-digit PIN (secrets, not random: it guards an account)."""
    return f"{secrets.randbelow(10**6):06d}"


@router.get("/operators", response_model=list[OperatorAccount])
async def operators(_: Maintainer, ui: UiDep) -> Any:
    return [
        {**o.public(), "disabled": o.disabled, "locked_until": o.locked_until}
        for o in ui.operators.list()
    ]


@router.post(
    "/operators",
    response_model=NewOperator,
    response_model_exclude_unset=True,  # pin only when the kiosk made it
)
async def add_operator(body: OperatorRequest, s: Maintainer, ui: UiDep) -> Any:
    """Add an operator; from the screen without typing a code or PIN (both made here,
    the PIN shown once)."""
    code = body.code or next_code([o.code for o in ui.operators.list()])
    pin = body.pin or new_pin()
    op = await run(ui.operators.add, code, body.name, body.role, pin, s.operator.code)
    return {**op.public(), **({"pin": pin} if not body.pin else {})}


@router.post("/operators/{code}/unlock", response_model=Unlocked)
async def unlock(code: str, s: Maintainer, ui: UiDep) -> Any:
    if ui.operators.get(code) is None:
        raise NotFound(code)
    ui.operators.unlock(code, s.operator.code)
    return {"unlocked": code}


@router.post("/operators/{code}/disable", response_model=Disabled)
async def disable_operator(code: str, s: Maintainer, ui: UiDep) -> Any:
    """The account can no longer sign in (audited; accounts are never deleted)."""
    await run(ui.operators.set_disabled, code, True, s.operator.code)
    return {"disabled": code}


@router.post("/operators/{code}/enable", response_model=Enabled)
async def enable_operator(code: str, s: Maintainer, ui: UiDep) -> Any:
    await run(ui.operators.set_disabled, code, False, s.operator.code)
    return {"enabled": code}


@router.post("/operators/{code}/reset-pin", response_model=NewPin)
async def reset_pin(code: str, s: Maintainer, ui: UiDep) -> Any:
    """A new random 6-digit PIN, shown once to the maintainer to hand to the clerk (no
    typing on the screen; also ends a lockout). Audited, the PIN itself is not."""
    pin = new_pin()
    await run(ui.operators.reset_pin, code, pin, s.operator.code)
    return {"code": code, "pin": pin}
