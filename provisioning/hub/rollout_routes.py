"""The update report route: one outcome posted by the kiosk's updater outside a heartbeat.

The same :class:`~provisioning.fleet_schemas.UpdateReport` a heartbeat may carry in ``upd``;
both end in :meth:`~provisioning.hub.rollouts.RolloutService.record`, so a report sent
twice (here, then again in a heartbeat) is counted once.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from provisioning import schemas
from provisioning.fleet_schemas import MAX_RESULT_BODY, UPDATE_REPORT_PATH, UpdateReport
from provisioning.hub.errors import HubError
from provisioning.hub.fleet import FleetService
from provisioning.hub.fleet_routes import device_of, read_json_body

router = APIRouter()


@router.post(UPDATE_REPORT_PATH)
async def update_report(request: Request) -> Response:
    device = await device_of(request)
    body = await read_json_body(request, MAX_RESULT_BODY)
    try:
        report = UpdateReport.model_validate_json(body)
    except ValidationError:
        raise HubError(schemas.E_BAD_REQUEST, "update report") from None
    fleet: FleetService = request.app.state.fleet
    await run_in_threadpool(fleet.rollouts.record, device.kiosk_id, report)
    return Response(status_code=204)
