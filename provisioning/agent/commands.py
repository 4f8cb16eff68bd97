"""Remote commands, kiosk side: verify, run at most once, report, audit.

Commands arrive in heartbeat answers (:class:`~provisioning.fleet_schemas.HeartbeatAnswer`
``cmds``), each signed by the hub (:func:`~provisioning.fleet_schemas.verify_command`
against the fleet CA from enrollment). Expiry is judged on the hub's clock as measured at
the heartbeat (kiosk clock minus the offset), so a Pi without RTC neither runs stale
commands nor refuses fresh ones.

At most once: the command's id is written to the journal (``<agent state>/commands.json``,
0600, atomic and fsynced) *before* it runs. A replayed id is never run again; a command whose run
was cut by a power failure is reported ``failed``/``interrupted`` instead of being re-run
(a reboot command would otherwise loop). Reports that did not reach the hub are sent again
at the next heartbeat. Each step is an audit record on the kiosk (``command.*``), and the
hub records each result as an event.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import TYPE_CHECKING, Any

import httpx

from firmware.errors import KioskError
from firmware.fleet.link import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, ensure_dir
from provisioning.agent.system import System, open_system
from provisioning.fleet_schemas import (
    COMMAND_RESULT_PATH,
    JSON_TYPE,
    CommandRefused,
    CommandResult,
    dump_model,
    verify_command,
)
from sohoa_common.atomic import atomic_write_text, sha256_file

if TYPE_CHECKING:
    from firmware.uplink.identity import Identity
    from provisioning.agent.agent import Agent, StepContext
    from provisioning.fleet_schemas import HeartbeatAnswer

log = logging.getLogger("sohoa.agent.commands")

JOURNAL = "commands.json"
KEEP = 500  # journal entries kept (ids are random; a replay after 500 newer ones is expired)


class Commands:
    name = "commands"

    def __init__(self, agent: Agent, system: System | None = None):
        self.agent = agent
        self.system = (
            system
            if system is not None
            else open_system(agent.settings.agent.system, agent.state_dir)
        )
        self.path = agent.state_dir / JOURNAL
        self.journal: dict[str, dict[str, Any]] = self._load()

    # -- journal ------------------------------------------------------------------------
    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            log.error("command journal unreadable; known ids are lost, expired ones stay refused")
            return {}
        for entry in data.values():  # a run the power cut short is not run again
            if entry.get("state") == "started":
                entry.update(
                    state="failed",
                    result=_result("failed", "interrupted", "the agent stopped while it ran"),
                )
        return data

    def _save(self) -> None:
        if len(self.journal) > KEEP:
            for cid in sorted(self.journal, key=lambda c: self.journal[c]["at"])[:-KEEP]:
                del self.journal[cid]
        atomic_write_text(
            self.path,
            json.dumps(self.journal, ensure_ascii=False, sort_keys=True),
            mode=PRIVATE_FILE_MODE,
        )

    # -- the duty -----------------------------------------------------------------------
    def after_heartbeat(self, ctx: StepContext, answer: HeartbeatAnswer) -> None:
        hub_now = dt.datetime.now(dt.UTC) - dt.timedelta(
            seconds=self.agent.state.clock_offset_s or 0
        )
        for cmd in answer.cmds:
            cid = str(cmd.get("id", ""))[:64] if isinstance(cmd, dict) else ""
            if not cid:
                continue
            if cid in self.journal:  # a replay, or a report still owed
                continue
            self._handle(ctx.ident, cmd, cid, hub_now)
        self._report_pending(ctx.ident)

    def _handle(self, ident: Identity, cmd: dict[str, Any], cid: str, now: dt.datetime) -> None:
        audit = self.agent.audit
        try:
            verify_command(cmd, ident.ca, self.agent.settings.kiosk_id, now)
        except CommandRefused as exc:
            self.journal[cid] = {
                "kind": str(cmd.get("kind")),
                "at": _iso(),
                "state": "refused",
                "result": _result("refused", exc.code, exc.reason),
            }
            self._save()
            audit("command.refused", id=cid, code=exc.code, reason=exc.reason)
            log.warning("command %s refused: %s", cid, exc.reason)
            return
        kind = cmd["kind"]
        self.journal[cid] = {"kind": kind, "at": _iso(), "state": "started"}
        self._save()  # before running: at most once, even across a power cut
        audit("command.started", id=cid, kind=kind, args=cmd["args"])
        try:
            output = self.run(kind, cmd["args"], ident, cid)
        except (KioskError, OSError) as exc:
            code = getattr(exc, "code", "os_error")
            msg = getattr(exc, "message_en", None) or str(exc)
            self.journal[cid].update(state="failed", result=_result("failed", code, msg))
            audit("command.failed", id=cid, kind=kind, code=code, reason=msg)
        else:
            self.journal[cid].update(state="done", result=_result("done", output=output))
            audit("command.done", id=cid, kind=kind)
        self._save()

    def run(self, kind: str, args: dict[str, Any], ident: Identity, cid: str) -> dict[str, Any]:
        """Do one command; its output for the hub (small JSON)."""
        agent = self.agent
        if kind == "doctor":
            return {"checks": doctor_report(agent, cid)}
        if kind == "rekey":
            fresh = agent.renewal.rekey(ident)
            agent.link.close()
            return {
                "not_after": fresh.not_after.isoformat(),
                "serial": format(fresh.cert.serial_number, "x"),
            }
        if kind == "resync_config":
            sync = next(d for d in agent.duties if d.name == "config")
            version = sync.sync(ident, agent.state.hub_config_hint)  # type: ignore[attr-defined]
            return {"config_version": version}
        if kind == "restart_service":
            self.system.restart_service()
            return {"restarted": True}
        if kind == "reboot":
            self.system.reboot()
            return {"rebooting": True}
        if kind == "collect_logs":
            return self.collect_logs(ident, cid)
        raise KioskError("command_unknown", f"unknown command {kind}", f"lệnh lạ {kind}")

    def collect_logs(self, ident: Identity, cid: str) -> dict[str, Any]:
        from firmware.uplink.client import TusClient, UploadItem
        from provisioning.agent.log_bundle import build_bundle
        from provisioning.schemas import verify_receipt

        agent = self.agent
        bundle = build_bundle(
            agent.paths,
            agent.state_dir,
            ensure_dir(agent.state_dir / "outgoing", PRIVATE_DIR_MODE) / f"logs-{cid}.tar.gz",
            doctor_report(agent, cid),
        )
        sha = sha256_file(bundle)
        doc_id = f"logs-{agent.settings.kiosk_id}-{cid}"
        up = agent.settings.uplink
        with TusClient(
            up.hub_url or ident.hub_url,
            ident.ssl_context(),
            rate_bytes=up.bandwidth_kbit * 1000 / 8,
            connect_timeout=up.connect_timeout_s,
            io_timeout=up.io_timeout_s,
            transport=agent.link.transport,
        ) as tus:
            item = UploadItem(
                doc_id, bundle, sha, bundle.stat().st_size, filename=bundle.name, kind="log_bundle"
            )
            receipt = tus.upload(item, lambda url, offset: None)
        verify_receipt(receipt, ident.ca, sha, doc_id, agent.settings.kiosk_id)
        size = bundle.stat().st_size
        bundle.unlink()
        return {
            "document_id": doc_id,
            "sha256": sha,
            "size": size,
            "stored_as": receipt["stored_as"],
        }

    def _report_pending(self, ident: Identity) -> None:
        client = self.agent.link.client(ident)
        changed = False
        for cid, entry in self.journal.items():
            if entry.get("reported") or "result" not in entry:
                continue
            try:
                resp = client.post(
                    COMMAND_RESULT_PATH.format(id=cid),
                    content=dump_model(CommandResult(**entry["result"])),
                    headers={"Content-Type": JSON_TYPE},
                )
            except httpx.HTTPError as exc:
                log.warning("reporting command %s failed: %s (next heartbeat)", cid, exc)
                break
            # 404: a forged or foreign id; the hub has nothing to record, nothing to resend
            if resp.status_code in (204, 404):
                entry["reported"] = True
                changed = True
        if changed:
            self._save()


def doctor_report(agent: Agent, request_id: str) -> list[dict[str, Any]]:
    """``sohoa doctor`` as data (every check, its verdict and what to do), made by the
    running kiosk: the checks read the catalog and open the devices, which the agent's user
    may not. A kiosk that does not answer is the report's one failed check."""
    from firmware.fleet.link import DOCTOR_WAIT_S, ask_kiosk

    answer = ask_kiosk(agent.paths, agent.state_dir, "doctor", request_id, DOCTOR_WAIT_S)
    if answer is not None and isinstance(answer.get("result"), list):
        return answer["result"]
    return [
        {
            "name": "service",
            "ok": False,
            "detail_en": f"the kiosk service did not answer within {DOCTOR_WAIT_S:.0f} s "
            "(not running?)",
            "detail_vi": "Dịch vụ máy quét không trả lời (có thể không chạy)",
            "fix_en": "restart the service (remote command restart_service) or visit the kiosk",
            "fix_vi": "Khởi động lại dịch vụ (lệnh restart_service) hoặc đến kiểm tra máy",
        }
    ]


def _iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _result(
    status: str,
    code: str | None = None,
    reason: str | None = None,
    *,
    output: dict[str, Any] | None = None,
) -> dict[str, Any]:
    r: dict[str, Any] = {"status": status, "finished_at": _iso()}
    if code:
        r["code"] = code
    if reason:
        r["reason"] = reason[:500]
    if output is not None:
        r["output"] = output
    return r
