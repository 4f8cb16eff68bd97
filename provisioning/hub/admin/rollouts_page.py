"""The admin page of rollouts: every rollout with its waves, committed / rolled back /
pending per wave, the reasons of rollbacks, and the controls (pause, resume, advance,
abort), plus the form that starts one. The same :class:`~provisioning.hub.rollouts.
RolloutService` the CLI uses; viewers see, administrators act (a release reaches kiosks).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from provisioning.hub.admin.routes import PREFIX, current, form_of, guard
from provisioning.hub.admin.views import render
from provisioning.hub.rollouts import STATE_VI, RolloutError, RolloutService, parse_waves

router = APIRouter(prefix=PREFIX)
ACTIONS = ("pause", "resume", "advance", "abort")


def _service(request: Request) -> RolloutService:
    service: RolloutService = request.app.state.fleet.rollouts
    return service


def _release(form: dict[str, str], prefix: str) -> dict[str, Any] | None:
    keys = ("version", "target", "sha256")
    if prefix and not any(form.get(prefix + k, "").strip() for k in (*keys, "length")):
        return None
    rel: dict[str, Any] = {k: form.get(prefix + k, "").strip() for k in keys}
    try:
        rel["length"] = int(form.get(prefix + "length", "").strip())
    except ValueError:
        rel["length"] = 0
    return rel


def published_releases(repo: Any) -> list[dict[str, Any]]:
    """The releases the offline release role signed, newest version first, as the form
    offers them (the hub may assign these; typing a hash by hand is the fallback)."""
    from provisioning.fleet_schemas import RELEASE_ROLE
    from provisioning.hub.tuf_repo import RepoError

    if repo is None:
        return []
    try:
        targets = repo.load(RELEASE_ROLE).signed.targets
    except RepoError:
        return []
    out = []
    for name, t in targets.items():
        version = str((t.unrecognized_fields.get("custom") or {}).get("version") or "")
        if version:
            out.append(
                {"version": version, "target": name, "sha256": t.hashes.get("sha256", ""),
                 "length": t.length}
            )  # fmt: skip
    return sorted(out, key=lambda r: r["version"], reverse=True)


def _chosen(form: dict[str, str], repo: Any, field: str, prefix: str) -> dict[str, str]:
    """The form with the release picked in ``field`` written into its ``prefix`` fields."""
    name = form.get(field, "").strip()
    if not name:
        return form
    rel = next((r for r in published_releases(repo) if r["target"] == name), None)
    if rel is None:
        raise RolloutError(
            "rollout_unknown_release",
            f"{name} is not a release signed by the release role.",
            f"{name} không phải bản phát hành đã được ký.",
        )
    return {**form, **{prefix + k: str(v) for k, v in rel.items()}}


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.replace(";", ",").split(",") if v.strip()]


@router.get("/rollouts")
@guard
async def rollouts_page(request: Request) -> Response:
    session = await current(request)
    return await _page(request, session, None, request.query_params.get("ok"))


async def _page(
    request: Request, session: Any, error: RolloutError | None, ok: str | None
) -> Response:
    svc = _service(request)

    def gather() -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]]]:
        svc.evaluate_all()
        shown = [svc.status(r["id"]) for r in svc.list()]
        groups = sorted({d["group"] for d in svc.db.active_devices()})
        return shown, groups, published_releases(request.app.state.fleet.repo)

    shown, groups, published = await run_in_threadpool(gather)
    return render(
        "rollouts.html",
        session,
        rollouts=shown,
        groups=groups,
        published=published,
        windows=await run_in_threadpool(svc.windows),
        error=error,
        ok=ok,
        ROLLOUT_STATE_VI=STATE_VI,
        may_act=session.may("administrator"),
    )


@router.post("/rollouts")
@guard
async def create_rollout(request: Request) -> Response:
    session = await current(request, "administrator")
    form = await form_of(request, session)
    raw = await request.form()
    svc = _service(request)
    try:
        repo = request.app.state.fleet.repo
        form = _chosen(_chosen(form, repo, "release", ""), repo, "previous_release", "previous_")
        waves = [
            dataclasses.replace(
                w,
                success=float(form.get("success", "95").replace(",", ".")) / 100,
                failure=float(form.get("failure", "5").replace(",", ".")) / 100,
            )
            for w in parse_waves(form.get("waves", ""))
        ]
        rid = await run_in_threadpool(
            lambda: svc.create(
                _release(form, ""),  # type: ignore[arg-type]
                previous=_release(form, "previous_"),
                groups=[str(g) for g in raw.getlist("groups")],
                tags=_split(form.get("tags", "")),
                kiosks=_split(form.get("kiosks", "")),
                waves=waves,
                by=f"admin:{session.username}",
            )
        )
    except ValueError:
        err = RolloutError(
            "rollout_bad_threshold", "Thresholds are percentages.", "Ngưỡng là phần trăm."
        )
        return await _page(request, session, err, None)
    except RolloutError as exc:
        return await _page(request, session, exc, None)
    return RedirectResponse(f"{PREFIX}/rollouts?ok={rid}#{rid}", status_code=303)


@router.post("/rollouts/{rollout_id}/{action}")
@guard
async def control_rollout(request: Request, rollout_id: str, action: str) -> Response:
    session = await current(request, "administrator")
    form = await form_of(request, session)
    if action not in ACTIONS:
        raise PermissionError(action)
    svc = _service(request)
    by = f"admin:{session.username}"
    try:
        if action in ("pause", "abort"):
            await run_in_threadpool(getattr(svc, action), rollout_id, by, form.get("reason", ""))
        else:
            await run_in_threadpool(getattr(svc, action), rollout_id, by)
    except RolloutError as exc:
        return await _page(request, session, exc, None)
    return RedirectResponse(f"{PREFIX}/rollouts?ok={rollout_id}#{rollout_id}", status_code=303)
