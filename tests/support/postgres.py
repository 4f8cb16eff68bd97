"""A throw-away PostgreSQL server: Debian's server binaries, a Unix socket in a temporary
directory, no TCP listener, started as the ``postgres`` user when run as root (initdb
refuses root). The ``postgres_url`` fixture (``tests/support/hub.py``) runs it with fsync
off (tests want speed, not durability); ``bench/fleet.py`` keeps fsync on, to measure what a
hub pays in production.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """Why no server can be started here (missing binaries, no ``postgres`` user)."""


def pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / name).exists():
            return str(base / name)
    return None


@dataclass(frozen=True)
class PgServer:
    url: str  # SQLAlchemy URL (psycopg) over the Unix socket
    data: Path

    @property
    def log(self) -> Path:
        """The server's log (``pg_ctl -l``): what ``log_statement`` records lands here."""
        return self.data.parent / "log"

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def restart(self) -> None:
        """Stop the server at once (``immediate``: clients see their connection drop, as in
        a crash or failover) and start it again with the same options."""
        pg_ctl = pg_bin("pg_ctl")
        assert pg_ctl is not None
        subprocess.run(
            _as_owner()
            + [pg_ctl, "-D", str(self.data), "-l", str(self.log)]
            + ["-m", "immediate", "-w", "restart"],
            check=True,
            capture_output=True,
        )


def _as_owner() -> list[str]:
    """The prefix that runs a server binary as ``postgres`` when we are root."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@contextlib.contextmanager
def temporary_postgres(*, fsync: bool = True, max_connections: int = 100) -> Iterator[PgServer]:
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        raise PostgresUnavailable(
            "PostgreSQL server binaries (Debian package postgresql) not installed"
        )
    prefix: list[str] = []
    owner = None
    if os.geteuid() == 0:  # initdb refuses to run as root
        import pwd

        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable("running as root and there is no postgres user") from None
        prefix = _as_owner()
    root = Path(tempfile.mkdtemp(prefix="sohoa-pg-"))
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    data = root / "data"
    try:
        subprocess.run(
            prefix + [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
        )
        opts = f"-k {root} -c listen_addresses='' -c max_connections={max_connections}"
        if not fsync:
            opts += " -F"
        subprocess.run(
            prefix + [pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w", "start", "-o", opts],
            check=True,
            capture_output=True,
        )
        yield PgServer(f"postgresql+psycopg://postgres@/postgres?host={root}", data)
    finally:
        subprocess.run(
            prefix + [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
