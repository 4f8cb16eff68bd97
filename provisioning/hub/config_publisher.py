"""Publishing signed configuration: what the CLI and the admin page call.

A scope is ``fleet``, ``group:<name>`` or ``kiosk:<id>``. Publishing checks that only keys
the fleet configures are set (:data:`provisioning.fleet_schemas.FLEET_KEYS`), merges them
into the scope's current document (or replaces it), signs a new version through
:class:`~provisioning.hub.tuf_repo.ConfigRepository`, and records a ``config_published``
event with what changed. The kiosk validates the values with its own models and reports a
refusal in its heartbeat (``config_refused`` event on the hub).
"""

from __future__ import annotations

import copy
from typing import Any

from provisioning.fleet_schemas import unknown_fleet_keys
from provisioning.hub.fleet_db import FleetDB
from provisioning.hub.hub_db import HubDB
from provisioning.hub.tuf_repo import (
    CONFIG_ROLE,
    FLEET_TARGET,
    ConfigRepository,
    Published,
    RepoError,
    group_role,
    group_target,
    kiosk_target,
)


class PublishError(Exception):
    pass


def repository_for(settings: Any) -> ConfigRepository:
    return ConfigRepository(settings.dir / "tuf")


def scope_of(fleet: bool, group: str | None, kiosk: str | None) -> str:
    if group:
        return f"group:{group}"
    if kiosk:
        return f"kiosk:{kiosk}"
    return "fleet"


def diff(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """``[{key: "section.key", old, new}]`` for every setting that differs."""
    out = []
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section) or {}, new.get(section) or {}
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                out.append({"key": f"{section}.{key}", "old": a.get(key), "new": b.get(key)})
    return out


class ConfigPublisher:
    def __init__(self, repo: ConfigRepository, db: HubDB, *, owns_db: bool = False):
        self.repo = repo
        self.db = db
        self._owns_db = owns_db

    @classmethod
    def open(cls, settings: Any) -> ConfigPublisher:
        db = HubDB(settings.database_url)
        db.create_schema()
        return cls(repository_for(settings), db, owns_db=True)

    def close(self) -> None:
        if self._owns_db:
            self.db.close()

    def _where(self, scope: str) -> tuple[str, str]:
        kind, _, name = scope.partition(":")
        if kind == "fleet":
            return CONFIG_ROLE, FLEET_TARGET
        if kind == "group" and name:
            return group_role(name), group_target(name)
        if kind == "kiosk" and name:
            return self.repo.bin_for(name), kiosk_target(name)
        raise PublishError(f"unknown scope {scope!r}")

    def document(self, scope: str) -> dict[str, Any]:
        if not self.repo.exists():
            raise PublishError("no signed configuration yet: run `sohoa fleet keys init`")
        role, target = self._where(scope)
        try:
            doc = self.repo.target_document(role, target)
        except RepoError:
            doc = None
        return doc or {"scope": scope, "settings": {}, "version": None}

    def preview(self, scope: str, values: dict[str, Any], replace: bool = False) -> dict[str, Any]:
        """What publishing would sign: the new settings and the diff (for the admin page)."""
        bad = unknown_fleet_keys(values)
        if bad:
            raise PublishError(f"not settings the fleet configures: {', '.join(bad)}")
        old = self.document(scope).get("settings") or {}
        new = {} if replace else copy.deepcopy(old)
        for section, kv in values.items():
            merged = {**new.get(section, {}), **kv}
            new[section] = {k: v for k, v in merged.items() if v is not None}
            if not new[section]:
                del new[section]
        return {"settings": new, "diff": diff(old, new)}

    def publish(
        self, scope: str, values: dict[str, Any], *, by: str, replace: bool = False
    ) -> Published:
        plan = self.preview(scope, values, replace)
        kind, _, name = scope.partition(":")
        try:
            if kind == "fleet":
                pub = self.repo.publish_fleet(plan["settings"])
            elif kind == "group":
                pub = self.repo.publish_group(name, plan["settings"])
            else:
                group = FleetDB(self.db.engine).device_group(name)
                if group is None:
                    raise PublishError(f"no enrolled kiosk {name!r}")
                pub = self.repo.publish_kiosk(name, group, plan["settings"])
        except RepoError as exc:
            raise PublishError(str(exc)) from None
        self.db.events.event(
            "config_published",
            name if kind == "kiosk" else None,
            scope=scope,
            version=pub.version,
            by=by,
            changes=plan["diff"],
        )
        return pub
