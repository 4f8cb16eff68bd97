"""Hub accounts for the admin page: viewer < operator < administrator.

Passwords are stored as argon2id hashes (argon2-cffi); after :data:`MAX_FAILURES` wrong
passwords an account is locked for :data:`LOCK_S` seconds (counted in the database, so a
second hub replica does not reset it), or until :meth:`Accounts.unlock` or a reset clears it
(``sohoa fleet admin unlock USER``, ``add USER --reset``). Sessions are random tokens stored
hashed, with their CSRF token, expiring after :data:`SESSION_S` of inactivity.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.engine import Engine

from provisioning.hub.admin import ROLES
from provisioning.hub.db import TZDateTime, now_utc
from provisioning.hub.fleet_db import metadata
from provisioning.hub.table_setup import create_tables

MAX_FAILURES = 5
LOCK_S = 900
SESSION_S = 8 * 3600
MIN_PASSWORD = 10

_hasher = PasswordHasher()

admin_users = sa.Table(
    "admin_users",
    metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("pw_hash", sa.Text, nullable=False),
    sa.Column("failures", sa.Integer, nullable=False, default=0),
    sa.Column("locked_until", TZDateTime),
    sa.Column("created_at", TZDateTime, nullable=False),
)

admin_sessions = sa.Table(
    "admin_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("expires_at", TZDateTime, nullable=False),
)


class AccountError(Exception):
    def __init__(self, code: str, en: str, vi: str):
        super().__init__(en)
        self.code, self.en, self.vi = code, en, vi


@dataclass(frozen=True)
class Session:
    username: str
    name: str
    role: str
    csrf: str

    def may(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def account_exists(username: str) -> AccountError:
    return AccountError(
        "account_exists",
        f"The account {username!r} already exists; to change its password, role or name "
        "add --reset.",
        f"Tài khoản {username!r} đã có; muốn đổi mật khẩu, vai trò hoặc họ tên thì thêm --reset.",
    )


def unknown_user(username: str) -> AccountError:
    return AccountError(
        "unknown_user",
        f"There is no account {username!r} (see `sohoa fleet admin list`).",
        f"Không có tài khoản {username!r} (xem `sohoa fleet admin list`).",
    )


def _h(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    def __init__(self, engine: Engine):
        self.engine = engine
        create_tables(metadata, engine)

    def add(
        self,
        username: str,
        name: str | None,
        role: str | None,
        password: str,
        *,
        reset: bool = False,
    ) -> None:
        """Create an account; an existing one only with ``reset``.

        Without ``reset`` an existing user name is refused (``account_exists``): running
        ``add`` again by mistake used to replace the account's name and password silently.
        With ``reset`` the password is replaced, the role and full name kept unless given (a
        forgotten ``--role`` must not demote an administrator) and the lock cleared (a reset
        is also how a locked-out person gets back in). A user name that does not exist is
        refused with ``reset`` (``unknown_user``) rather than created, so a mistyped name
        does not leave a second account with a known password.
        """
        if role is None and not reset:
            role = ROLES[0]
        if role is not None and role not in ROLES:
            raise AccountError("bad_role", f"role must be one of {ROLES}", "Vai trò không hợp lệ")
        if len(password) < MIN_PASSWORD:
            raise AccountError(
                "weak_password",
                f"the password needs at least {MIN_PASSWORD} characters",
                f"Mật khẩu cần ít nhất {MIN_PASSWORD} ký tự",
            )
        pw_hash = _hasher.hash(password)
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(admin_users.c.username).where(admin_users.c.username == username)
            ).first()
            if exists and not reset:
                raise account_exists(username)
            if not exists and reset:
                raise unknown_user(username)
            if exists:
                values: dict[str, Any] = {"pw_hash": pw_hash, "failures": 0, "locked_until": None}
                if role:
                    values["role"] = role
                if name:
                    values["name"] = name
                conn.execute(
                    admin_users.update().where(admin_users.c.username == username).values(**values)
                )
            else:
                conn.execute(
                    admin_users.insert().values(
                        username=username,
                        name=name or username,
                        role=role,
                        pw_hash=pw_hash,
                        failures=0,
                        created_at=now_utc(),
                    )
                )

    def exists(self, username: str) -> bool:
        with self.engine.connect() as conn:
            return (
                conn.execute(
                    sa.select(admin_users.c.username).where(admin_users.c.username == username)
                ).first()
                is not None
            )

    def unlock(self, username: str) -> bool:
        """Clear the wrong-password count and the lock of ``username``; whether it was locked.

        The lock counts wrong passwords per user name, from anyone, so someone guessing can
        lock an administrator out: this is the way back in without waiting :data:`LOCK_S`.
        """
        now = now_utc()
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(admin_users.c.locked_until).where(admin_users.c.username == username)
            ).one_or_none()
            if row is None:
                raise unknown_user(username)
            conn.execute(
                admin_users.update()
                .where(admin_users.c.username == username)
                .values(failures=0, locked_until=None)
            )
        return row.locked_until is not None and row.locked_until > now

    def list(self) -> list[dict[str, Any]]:
        """The accounts without their hashes; ``locked`` says whether the lock still holds
        (``locked_until`` stays set after it has run out, until the next good sign-in)."""
        now = now_utc()
        with self.engine.connect() as conn:
            return [
                {c.name: getattr(r, c.name) for c in admin_users.columns if c.name != "pw_hash"}
                | {"locked": r.locked_until is not None and r.locked_until > now}
                for r in conn.execute(sa.select(admin_users).order_by(admin_users.c.username))
            ]

    def sign_in(self, username: str, password: str) -> str:
        """A new session token, or :class:`AccountError` (wrong, locked)."""
        now = now_utc()
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(admin_users).where(admin_users.c.username == username)
            ).one_or_none()
            if row is None:
                _hasher.hash(password)  # same cost as a real check: no user enumeration
                raise AccountError(
                    "bad_credentials",
                    "Wrong user name or password.",
                    "Sai tên đăng nhập hoặc mật khẩu.",
                )
            if row.locked_until is not None and row.locked_until > now:
                minutes = max(1, int((row.locked_until - now).total_seconds() // 60) + 1)
                raise AccountError(
                    "locked",
                    f"Too many wrong passwords; try again in {minutes} min.",
                    f"Nhập sai quá nhiều lần; thử lại sau {minutes} phút.",
                )
            try:
                _hasher.verify(row.pw_hash, password)
                wrong = False
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                wrong = True
            if wrong:
                # counted in this transaction, which must commit: raise only after it
                failures = row.failures + 1
                values: dict[str, Any] = {"failures": failures}
                if failures >= MAX_FAILURES:
                    values = {"failures": 0, "locked_until": now + timedelta(seconds=LOCK_S)}
                conn.execute(
                    admin_users.update().where(admin_users.c.username == username).values(**values)
                )
        if wrong:
            raise AccountError(
                "bad_credentials",
                "Wrong user name or password.",
                "Sai tên đăng nhập hoặc mật khẩu.",
            )
        with self.engine.begin() as conn:
            conn.execute(
                admin_users.update()
                .where(admin_users.c.username == username)
                .values(failures=0, locked_until=None)
            )
            token = secrets.token_urlsafe(32)
            conn.execute(
                admin_sessions.insert().values(
                    token_hash=_h(token),
                    username=username,
                    csrf=secrets.token_urlsafe(24),
                    expires_at=now + timedelta(seconds=SESSION_S),
                )
            )
            conn.execute(admin_sessions.delete().where(admin_sessions.c.expires_at < now))
        return token

    def session(self, token: str | None) -> Session | None:
        if not token:
            return None
        now = now_utc()
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(admin_sessions, admin_users.c.name, admin_users.c.role)
                .select_from(
                    admin_sessions.join(
                        admin_users, admin_sessions.c.username == admin_users.c.username
                    )
                )
                .where(admin_sessions.c.token_hash == _h(token), admin_sessions.c.expires_at > now)
            ).one_or_none()
            if row is None:
                return None
            conn.execute(
                admin_sessions.update()
                .where(admin_sessions.c.token_hash == _h(token))
                .values(expires_at=now + timedelta(seconds=SESSION_S))
            )
        return Session(row.username, row.name, row.role, row.csrf)

    def sign_out(self, token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(admin_sessions.delete().where(admin_sessions.c.token_hash == _h(token)))
