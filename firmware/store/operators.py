"""Operator accounts and sign-in sessions for the touchscreen.

Why it lives in the catalog: a sign-in, a lockout and a sign-out are audit events like any
capture, and the audit chain is in ``catalog.db``; keeping accounts in the same file means
one backup, one recovery pass. PINs are stored as argon2id hashes only (argon2-cffi), the
session cookie's token only as a SHA-256 (a stolen database opens no session).

Rules a clerk meets:
- a code is 3-12 digits and a PIN 4-12 digits (typed on the on-screen keypad);
- after :data:`MAX_FAILURES` wrong PINs in a row the code is locked for ``lockout_s``
  seconds, and so is an unknown code (so the keypad does not reveal which codes exist);
- a session ends after ``idle_timeout_s`` without activity (the UI warns first).
"""

from __future__ import annotations

import builtins
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from firmware.errors import KioskError
from firmware.store.catalog import Catalog, utcnow

ROLES = ("operator", "archivist", "maintainer")
#: Higher roles may do everything lower ones may.
ROLE_RANK = {role: i for i, role in enumerate(ROLES)}
MAX_FAILURES = 5
CODE_RE = re.compile(r"^[0-9]{3,12}$")
PIN_RE = re.compile(r"^[0-9]{4,12}$")
LANGS = ("vi", "en")

_hasher = PasswordHasher()
# Verified against when the code is unknown, so a wrong code costs as much time as a wrong PIN.
_DUMMY_HASH = _hasher.hash("0000-not-a-pin")


@dataclass(frozen=True)
class Operator:
    code: str
    name: str
    role: str
    disabled: bool = False
    locked_until: float | None = None

    def may(self, role: str) -> bool:
        """True if this operator's role is ``role`` or above it."""
        return ROLE_RANK[self.role] >= ROLE_RANK[role]

    def public(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "role": self.role}


@dataclass(frozen=True)
class Session:
    token_hash: str
    operator: Operator
    created_at: float
    last_seen: float
    lang: str


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bad_credentials() -> KioskError:
    return KioskError(
        "bad_credentials",
        "Wrong staff code or PIN.",
        "Mã cán bộ hoặc mã PIN không đúng.",
        status=401,
    )


def locked_out(seconds: float) -> KioskError:
    minutes = max(1, int(seconds + 59) // 60)
    return KioskError(
        "locked_out",
        f"Too many wrong PINs. This code is locked; try again in {minutes} minute(s).",
        f"Nhập sai quá nhiều lần. Mã này tạm khóa, hãy thử lại sau {minutes} phút.",
        status=423,
    )


class Operators:
    """Accounts, PIN checks with lockout, and sessions; every change is audited."""

    @property
    def db(self):  # noqa: ANN201 - sqlite_utils.Database of the calling thread
        """The catalog connection of the calling thread (never one shared across threads)."""
        return self.catalog.db

    def __init__(
        self,
        catalog: Catalog,
        *,
        max_failures: int = MAX_FAILURES,
        lockout_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ):
        self.catalog = catalog
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.clock = clock
        self._unknown: dict[str, tuple[int, float | None]] = {}
        self._lock = threading.Lock()

    # -- accounts ---------------------------------------------------------------------------
    @staticmethod
    def _row(row: dict[str, Any]) -> Operator:
        return Operator(
            code=row["code"],
            name=row["name"],
            role=row["role"],
            disabled=bool(row["disabled"]),
            locked_until=row["locked_until"],
        )

    def get(self, code: str) -> Operator | None:
        rows = list(self.db.query("SELECT * FROM operators WHERE code = ?", [code]))
        return self._row(rows[0]) if rows else None

    def list(self) -> list[Operator]:
        return [self._row(r) for r in self.db.query("SELECT * FROM operators ORDER BY code")]

    def add(self, code: str, name: str, role: str, pin: str, actor: str) -> Operator:
        """Create an operator; refuses a malformed code/PIN, an unknown role or a duplicate."""
        code, name = code.strip(), name.strip()
        if not CODE_RE.match(code):
            raise KioskError(
                "bad_code", "A staff code is 3-12 digits.", "Mã cán bộ gồm 3-12 chữ số.", status=422
            )
        if not PIN_RE.match(pin):
            raise KioskError(
                "bad_pin", "A PIN is 4-12 digits.", "Mã PIN gồm 4-12 chữ số.", status=422
            )
        if role not in ROLES:
            raise KioskError(
                "bad_role",
                f"Role must be one of {', '.join(ROLES)}.",
                "Vai trò không hợp lệ.",
                status=422,
            )
        if not name or len(name) > 120:
            raise KioskError(
                "bad_name", "A name is 1-120 characters.", "Họ tên dài 1-120 ký tự.", status=422
            )
        with self._lock:
            if self.get(code) is not None:
                raise KioskError(
                    "operator_exists",
                    f"Staff code {code} already exists.",
                    f"Mã cán bộ {code} đã tồn tại.",
                )
            now = utcnow()
            with self.catalog.transaction():
                self.db.execute(
                    "INSERT INTO operators (code, name, role, pin_hash, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    [code, name, role, _hasher.hash(pin), now, now],
                )
        self.catalog.audit(actor, "operator.add", code=code, role=role)
        op = self.get(code)
        assert op is not None
        return op

    def unlock(self, code: str, actor: str) -> None:
        with self._lock:
            with self.catalog.transaction():
                self.db.execute(
                    "UPDATE operators SET failed_count = 0, locked_until = NULL WHERE code = ?",
                    [code],
                )
            self._unknown.pop(code, None)
        self.catalog.audit(actor, "operator.unlock", code=code)

    def _known(self, code: str) -> Operator:
        op = self.get(code)
        if op is None:
            raise KioskError(
                "unknown_operator",
                f"No operator has the staff code {code}.",
                f"Không có người dùng mã {code}.",
                status=404,
            )
        return op

    def set_disabled(self, code: str, disabled: bool, actor: str) -> None:
        """Disable (or enable again) an account: a disabled code cannot sign in and its
        open sessions end at their next request. Accounts are never deleted: the audit log
        names them."""
        self._known(code)
        if disabled and code == actor:
            raise KioskError(
                "cannot_disable_self",
                "You cannot disable your own account.",
                "Không thể tự vô hiệu hóa tài khoản của mình.",
                status=409,
            )
        with self._lock, self.catalog.transaction():
            self.db.execute(
                "UPDATE operators SET disabled = ?, updated_at = ? WHERE code = ?",
                [int(disabled), utcnow(), code],
            )
            self.catalog.audit(
                actor, "operator.disable" if disabled else "operator.enable", code=code
            )

    def reset_pin(self, code: str, pin: str, actor: str) -> None:
        """A new PIN for a clerk who forgot theirs (also ends a lockout)."""
        self._known(code)
        if not PIN_RE.match(pin):
            raise KioskError(
                "bad_pin", "A PIN is 4-12 digits.", "Mã PIN gồm 4-12 chữ số.", status=422
            )
        with self._lock, self.catalog.transaction():
            self.db.execute(
                "UPDATE operators SET pin_hash = ?, failed_count = 0, locked_until = NULL, "
                "updated_at = ? WHERE code = ?",
                [_hasher.hash(pin), utcnow(), code],
            )
            self.catalog.audit(actor, "operator.reset_pin", code=code)

    # -- sign-in ----------------------------------------------------------------------------
    def authenticate(self, code: str, pin: str) -> Operator:
        """Check code + PIN; raises ``bad_credentials`` or ``locked_out`` (audited).

        Why in two steps: the attempt is counted *before* the slow argon2 check, in the same
        transaction (BEGIN IMMEDIATE) that reads the lock, so guesses sent in parallel each
        take one of the ``max_failures`` slots of the window and the ones beyond it are
        refused unchecked; the check itself runs outside the write lock. A right PIN gives
        its slot back (count reset), a wrong one keeps it.
        """
        now = self.clock()
        code = code.strip()[:32]
        with self._lock:
            rows = list(self.db.query("SELECT code FROM operators WHERE code = ?", [code]))
            if not rows:
                return self._unknown_code(code, pin, now)
        row, slot, refusal = self._reserve_attempt(code, now)
        if refusal is not None:
            raise refusal
        assert row is not None
        try:
            _hasher.verify(row["pin_hash"], pin)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            self.catalog.audit(code, "operator.signin_failed", failures=slot)
            if slot >= self.max_failures:
                self.catalog.audit(code, "operator.locked", seconds=self.lockout_s)
                raise locked_out(self.lockout_s) from None
            raise bad_credentials() from None
        with self.catalog.transaction():
            self._give_back(code, slot)
            self.catalog.audit(code, "operator.signin")
        return self._row(row)

    def _give_back(self, code: str, slot: int) -> None:
        """A right PIN returns its slot. Why only its own: guesses sent alongside it took
        later slots (and perhaps set the lock) while its argon2 check ran; clearing the
        count then would hand them a fresh window (6 wrong PINs checked with a limit of 5,
        seen under CI load). So the count starts over only if nobody reserved a slot since
        ours: the row still holds what our reservation wrote."""
        locked_by_us = slot >= self.max_failures
        self.db.execute(
            "UPDATE operators SET "
            " failed_count = CASE WHEN failed_count = :ours AND (locked_until IS NULL) = :open"
            "  THEN 0 WHEN locked_until IS NULL THEN MAX(failed_count - 1, 0)"
            "  ELSE failed_count END,"
            " locked_until = CASE WHEN failed_count = :ours AND (locked_until IS NULL) = :open"
            "  THEN NULL ELSE locked_until END "
            "WHERE code = :code",
            {"ours": 0 if locked_by_us else slot, "open": int(not locked_by_us), "code": code},
        )

    def _reserve_attempt(
        self, code: str, now: float
    ) -> tuple[dict[str, Any] | None, int, KioskError | None]:
        """One transaction: refuse a locked or disabled code, else count this attempt as a
        failure until proven otherwise (the slot that reaches the limit sets the lock).
        Returns (row, slot number, refusal)."""
        with self.catalog.transaction():
            rows = list(self.db.query("SELECT * FROM operators WHERE code = ?", [code]))
            if not rows:  # removed meanwhile: same answer as an unknown code
                return None, 0, bad_credentials()
            row = rows[0]
            if row["locked_until"] and row["locked_until"] > now:
                self.catalog.audit(code, "operator.signin_refused", reason="locked")
                return row, 0, locked_out(row["locked_until"] - now)
            if row["disabled"]:
                self.catalog.audit(code, "operator.signin_refused", reason="disabled")
                return row, 0, bad_credentials()
            slot = row["failed_count"] + 1
            until = now + self.lockout_s if slot >= self.max_failures else None
            self.db.execute(
                "UPDATE operators SET failed_count = ?, locked_until = ? WHERE code = ?",
                [0 if until else slot, until, code],
            )
        return row, slot, None

    def _unknown_code(self, code: str, pin: str, now: float) -> Operator:
        failures, until = self._unknown.get(code, (0, None))
        if until and until > now:
            raise locked_out(until - now)
        try:
            _hasher.verify(_DUMMY_HASH, pin)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            pass
        failures += 1
        if failures >= self.max_failures:
            self._unknown[code] = (0, now + self.lockout_s)
        else:
            self._unknown[code] = (failures, None)
        if len(self._unknown) > 10_000:  # bounded: a keypad cannot be used as a memory bomb
            self._unknown.clear()
        self.catalog.audit("unknown", "operator.signin_failed", code=code, failures=failures)
        if failures >= self.max_failures:
            raise locked_out(self.lockout_s)
        raise bad_credentials()

    # -- sessions ---------------------------------------------------------------------------
    def open_session(self, op: Operator, lang: str = "vi") -> str:
        """A new session for ``op``; returns the token for the cookie (stored hashed)."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with self.catalog.transaction():
            self.db.execute(
                "INSERT INTO sessions (token_hash, code, created_at, last_seen, lang)"
                " VALUES (?, ?, ?, ?, ?)",
                [_token_hash(token), op.code, now, now, lang if lang in LANGS else "vi"],
            )
        return token

    def session(
        self, token: str | None, idle_timeout_s: float, *, touch: bool = True
    ) -> Session | None:
        """The live session for ``token``; an idle one is ended (reason ``idle``) and None."""
        if not token or len(token) > 100:
            return None
        th = _token_hash(token)
        rows = list(
            self.db.query(
                "SELECT s.*, o.name, o.role, o.disabled, o.locked_until FROM sessions s "
                "JOIN operators o ON o.code = s.code WHERE s.token_hash = ? AND s.ended_at IS NULL",
                [th],
            )
        )
        if not rows:
            return None
        r = rows[0]
        now = self.clock()
        if now - r["last_seen"] > idle_timeout_s:
            self._end(th, r["code"], "idle", now)
            return None
        if r["disabled"]:
            self._end(th, r["code"], "disabled", now)
            return None
        # Touching is a durable write (fsync); a few seconds of granularity is plenty.
        if touch and now - r["last_seen"] >= min(5.0, idle_timeout_s / 4):
            with self.catalog.transaction():
                self.db.execute("UPDATE sessions SET last_seen = ? WHERE token_hash = ?", [now, th])
        op = Operator(r["code"], r["name"], r["role"], bool(r["disabled"]), r["locked_until"])
        return Session(th, op, r["created_at"], now if touch else r["last_seen"], r["lang"])

    def _end(self, token_hash: str, code: str, reason: str, now: float) -> bool:
        with self.catalog.transaction():
            cur = self.db.execute(
                "UPDATE sessions SET ended_at = ?, end_reason = ? "
                "WHERE token_hash = ? AND ended_at IS NULL",
                [now, reason, token_hash],
            )
        if cur.rowcount:
            self.catalog.audit(code, "operator.signout", reason=reason)
        return bool(cur.rowcount)

    def end_session(self, token: str, reason: str = "signout") -> None:
        th = _token_hash(token)
        rows = list(self.db.query("SELECT code FROM sessions WHERE token_hash = ?", [th]))
        if rows:
            self._end(th, rows[0]["code"], reason, self.clock())

    # `builtins.list`: inside this class `list` names the method above.
    def expire_idle(self, idle_timeout_s: float) -> builtins.list[str]:
        """End every session idle for longer than ``idle_timeout_s``; returns their codes."""
        now = self.clock()
        rows = list(
            self.db.query(
                "SELECT token_hash, code FROM sessions WHERE ended_at IS NULL AND last_seen < ?",
                [now - idle_timeout_s],
            )
        )
        return [r["code"] for r in rows if self._end(r["token_hash"], r["code"], "idle", now)]

    def open_sessions(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM sessions WHERE ended_at IS NULL").fetchone()[0]

    def most_recent_operator(self) -> str | None:
        """Code of the signed-in operator seen last (the pedal acts for them), or None."""
        row = self.db.execute(
            "SELECT code FROM sessions WHERE ended_at IS NULL ORDER BY last_seen DESC LIMIT 1"
        ).fetchone()
        return row[0] if row else None

    def failures_so_far(self, code: str) -> int:
        """Failed sign-ins counted against ``code`` now, read from its last
        ``operator.signin_failed`` audit record (known and unknown codes alike, so what the
        sign-in screen says never tells a real code from a made-up one)."""
        row = self.db.execute(
            "SELECT details FROM audit WHERE action = 'operator.signin_failed' AND "
            "(actor = ? OR (actor = 'unknown' AND json_extract(details, '$.code') = ?)) "
            "ORDER BY seq DESC LIMIT 1",
            [code, code],
        ).fetchone()
        return int(json.loads(row[0]).get("failures", 0)) if row else 0

    def set_language(self, token: str, lang: str) -> None:
        if lang not in LANGS:
            raise KioskError(
                "bad_language", "Language is vi or en.", "Ngôn ngữ là vi hoặc en.", status=422
            )
        with self.catalog.transaction():
            self.db.execute(
                "UPDATE sessions SET lang = ? WHERE token_hash = ?", [lang, _token_hash(token)]
            )


#: Accounts ``sohoa demo`` creates (code, name, role, PIN); never used outside the demo.
DEMO_OPERATORS = (
    ("1001", "Nguyễn Thị Lan", "operator", "1234"),
    ("2001", "Trần Văn Minh", "archivist", "2468"),
    ("9001", "Lê Quốc Hùng", "maintainer", "9999"),
)


def ensure_demo_operators(catalog: Catalog) -> str:
    """Create the demo accounts that are missing; returns the sign-in banner line."""
    ops = Operators(catalog)
    for code, name, role, pin in DEMO_OPERATORS:
        if ops.get(code) is None:
            ops.add(code, name, role, pin, "demo")
    return "Đăng nhập thử / demo sign-in (mã cán bộ / mã PIN): " + ", ".join(
        f"{code}/{pin} {role} ({name})" for code, name, role, pin in DEMO_OPERATORS
    )
