"""The maintenance screen's data (checks, audit tail, storage) and re-running the checks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from kiosk_ui.deps import Maintainer, UiDep, run
from kiosk_ui.maintenance import report
from kiosk_ui.schemas.maintenance import MaintenanceReport

router = APIRouter(prefix="/api/v1", tags=["maintenance"])


@router.get("/maintenance", response_model=MaintenanceReport)
async def maintenance(request: Request, s: Maintainer, ui: UiDep) -> Any:
    return await run(report, ui, ui.tr(request, s))


@router.post("/maintenance/checks", response_model=MaintenanceReport)
async def rerun_checks(request: Request, s: Maintainer, ui: UiDep) -> Any:
    """Run every check again now (audited with how many failed)."""
    data = await run(report, ui, ui.tr(request, s))
    bad = [c["name"] for c in data["checks"] if not c["ok"]]
    ui.kiosk.catalog.audit(s.operator.code, "maintenance.checks", failed=bad)
    return data
