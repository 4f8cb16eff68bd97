"""The limit on failed enrollment attempts per client address (``[enroll]``, 429).

The limiter is tested directly (windows, blocks, other addresses, pruning, the size cap)
with a clock the test moves, and through a real hub over mTLS on loopback: a subprocess
hub configured from hub.toml/environment, and an in-process hub whose limiter has the
test's clock, so "after the window" needs no sleeping. A second client address comes from
binding the client socket to 127.0.0.2 (all of 127/8 is loopback on Linux).
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from provisioning import schemas
from provisioning.hub import pki
from provisioning.hub.config import HubConfigError, load_hub_settings
from provisioning.hub.enroll_limit import EnrollLimiter
from tests.support.hub import HubProcess, free_port, serve_in_thread

OTHER_ADDRESS = "127.0.0.2"
BAD_TOKEN = "not-a-token-at-all-but-long-enough-123"


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# -- the limiter itself -------------------------------------------------------------------------


def test_failures_within_the_window_block_the_address_for_one_window():
    clock = FakeClock()
    lim = EnrollLimiter(max_failures=3, window_s=600, max_tracked=100, clock=clock)
    for _ in range(3):
        assert lim.check("10.0.0.1").allowed
        lim.record_failure("10.0.0.1")
        clock.advance(1)
    first = lim.check("10.0.0.1")
    assert (first.allowed, first.new_block, first.retry_after, first.failures) == (
        False,
        True,
        600,
        3,
    )
    clock.advance(100.5)
    again = lim.check("10.0.0.1")
    assert not again.allowed and not again.new_block  # one report per block
    assert again.retry_after == 500  # whole seconds, rounded up
    assert lim.check("10.0.0.2").allowed  # another address is not limited
    clock.advance(499.5)  # the block (600 s from its first refusal) is over
    assert lim.check("10.0.0.1").allowed
    # ... and the count starts afresh: two more failures do not block.
    lim.record_failure("10.0.0.1")
    lim.record_failure("10.0.0.1")
    assert lim.check("10.0.0.1").allowed
    lim.record_failure("10.0.0.1")
    second = lim.check("10.0.0.1")
    assert not second.allowed and second.new_block  # a new block is reported again


def test_only_failures_inside_the_sliding_window_count():
    clock = FakeClock()
    lim = EnrollLimiter(max_failures=3, window_s=60, max_tracked=100, clock=clock)
    lim.record_failure("a")
    clock.advance(30)
    lim.record_failure("a")
    clock.advance(31)  # the first failure is now 61 s old
    lim.record_failure("a")
    assert lim.check("a").allowed
    lim.record_failure("a")
    assert not lim.check("a").allowed


def test_stale_entries_are_pruned_and_the_table_is_capped():
    clock = FakeClock()
    lim = EnrollLimiter(max_failures=5, window_s=60, max_tracked=100, clock=clock)
    for i in range(50):
        lim.record_failure(f"10.1.0.{i}")
    assert len(lim) == 50
    clock.advance(61)
    lim.record_failure("10.2.0.1")  # counting prunes what no longer matters
    assert len(lim) == 1 and "10.2.0.1" in lim
    clock.advance(61)
    assert lim.prune() == 1 and len(lim) == 0

    # A flood of distinct addresses: the table never grows past the cap, the least
    # recently active go first, the most recent stay.
    for i in range(1000):
        lim.record_failure(f"2001:db8::{i:x}")
        assert len(lim) <= 100
    assert len(lim) == 100 and lim.evictions == 900
    assert "2001:db8::3e7" in lim and "2001:db8::0" not in lim

    # An address that keeps failing is kept over quiet ones (it is the most recent).
    for _ in range(5):
        lim.record_failure("198.51.100.7")
    for i in range(99):
        lim.record_failure(f"203.0.113.{i}")
    assert "198.51.100.7" in lim
    assert not lim.check("198.51.100.7").allowed


def test_limiter_rejects_nonsense_limits():
    for bad in ((0, 60, 10), (3, 0, 10), (3, 60, 0)):
        with pytest.raises(ValueError):
            EnrollLimiter(*bad)


def test_enroll_settings_defaults_validation_and_hub_toml(hub_factory):
    hub = hub_factory(start=False)
    s = load_hub_settings(hub.dir)
    assert (s.enroll.max_failures, s.enroll.window_s, s.enroll.max_tracked) == (10, 600, 10_000)
    toml = (hub.dir / "hub.toml").read_text()
    assert "[enroll]" in toml and "max_failures = 10" in toml and "window_s = 600" in toml
    for key, bad in (("max_failures", 0), ("window_s", -5), ("max_tracked", 1), ("nope", 1)):
        with pytest.raises(HubConfigError, match=f"enroll.{key}"):
            load_hub_settings(hub.dir, enroll={key: bad})
    lim = EnrollLimiter.from_config(load_hub_settings(hub.dir, enroll={"max_failures": 4}).enroll)
    assert (lim.max_failures, lim.window_s) == (4, 600)


# -- through a real hub ------------------------------------------------------------------------


def _ctx(hub: HubProcess) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(hub.ca_path))


def _client(hub: HubProcess, local_address: str | None = None) -> httpx.Client:
    """A client without a device certificate, optionally from another loopback address."""
    transport = httpx.HTTPTransport(verify=_ctx(hub), local_address=local_address)
    return httpx.Client(base_url=hub.url, transport=transport, timeout=30)


def _enroll(
    c: httpx.Client,
    token: str,
    kiosk_id: str = "kiosk-1",
    body: bytes | None = None,
    **headers: str,
) -> httpx.Response:
    if body is None:
        body = schemas.csr_body(pki.make_csr(pki.new_key(), kiosk_id))
    return c.post(
        schemas.EST_SIMPLEENROLL,
        content=body,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": schemas.PKCS10_CONTENT_TYPE,
            **headers,
        },
    )


def _assert_too_many(r: httpx.Response, max_retry: int) -> int:
    assert r.status_code == 429, r.text
    err = r.json()["error"]
    assert err["code"] == "too_many_attempts"
    assert err["message"] and err["message_vi"] and "phút" in err["message_vi"]
    retry = int(r.headers["Retry-After"])
    assert 1 <= retry <= max_retry
    return retry


def _blocked_events(hub: HubProcess) -> list[dict[str, Any]]:
    db = hub.db()
    try:
        return db.events.events("enroll_blocked")
    finally:
        db.close()


def _token_usable(hub: HubProcess, token: str) -> bool:
    from provisioning.hub.tokens import hash_token

    db = hub.db()
    try:
        return db.tokens.usable_token(hash_token(token)) is not None
    finally:
        db.close()


@pytest.mark.integration
def test_bad_tokens_then_429_before_any_work_and_one_event_per_block(hub_factory):
    hub = hub_factory(enroll={"max_failures": 3, "window_s": 900})
    good = hub.mint_token("g").token
    with _client(hub) as c:
        for _ in range(3):
            r = _enroll(c, BAD_TOKEN)
            assert r.status_code == 401 and r.json()["error"]["code"] == "token_invalid"
        # The address is limited, not the token: a valid one is refused too, and the
        # refusal comes before the token is looked at (it stays unused).
        first = _enroll(c, good, "kiosk-9")
        _assert_too_many(first, 900)
        # Nothing is parsed: even garbage gets the same 429.
        _assert_too_many(_enroll(c, BAD_TOKEN, body=b"garbage !!"), 900)
        _assert_too_many(c.post(schemas.EST_SIMPLEENROLL, content=b"x"), 900)
    assert _token_usable(hub, good)
    (event,) = _blocked_events(hub)  # three refusals, one block, one event
    assert event["kiosk_id"] is None
    assert event["detail"] == {
        "address": "127.0.0.1",
        "failures": 3,
        "window_s": 900,
        "blocked_s": 900,
    }
    assert "enrollment from 127.0.0.1 blocked" in hub.log_path.read_text()

    # Another address is unaffected: it enrolls with the token the blocked one could not use.
    with _client(hub, OTHER_ADDRESS) as other:
        r = _enroll(other, good, "kiosk-9")
        assert r.status_code == 200, r.text
        (cert,) = schemas.load_pkcs7_certs_body(r.content)
        assert schemas.kiosk_id_from_cert(cert) == "kiosk-9"
        # A client cannot step out of its block by claiming another address: the hub
        # believes X-Forwarded-For only from [trusted_proxies] (none by default).
        for _ in range(3):
            assert _enroll(other, BAD_TOKEN).status_code == 401
        spoofed = _enroll(
            other, hub.mint_token().token, "kiosk-10", **{"X-Forwarded-For": "203.0.113.50"}
        )
        _assert_too_many(spoofed, 900)
    assert [e["detail"]["address"] for e in _blocked_events(hub)] == ["127.0.0.1", OTHER_ADDRESS]
    # The routes that need no token are not limited.
    with _client(hub) as c:
        assert c.get(schemas.EST_CACERTS).status_code == 200


@contextlib.contextmanager
def _hub_with_clock(hub_dir: Path, clock: FakeClock, **overrides: Any) -> Iterator[Any]:
    """The real server (uvicorn, mTLS, the hub's app) in a thread, its limiter on ``clock``."""
    settings = load_hub_settings(hub_dir, **overrides)
    limiter = EnrollLimiter.from_config(settings.enroll, clock=clock)
    with serve_in_thread(hub_dir, enroll_limiter=limiter, **overrides) as hub:
        yield hub


@pytest.mark.integration
def test_blocked_address_gets_in_again_after_the_window(hub_factory):
    clock = FakeClock()
    base = hub_factory(start=False)
    with _hub_with_clock(base.dir, clock, enroll={"max_failures": 2, "window_s": 300}) as hub:
        good = hub.mint_token().token
        with _client(hub) as c:
            assert _enroll(c, BAD_TOKEN).status_code == 401
            no_bearer = _enroll(c, "", Authorization="Basic Zm9vOmJhcg==")
            assert no_bearer.status_code == 401  # no bearer token at all counts too
            assert _assert_too_many(_enroll(c, good), 300) == 300
            clock.advance(299.2)
            assert _assert_too_many(_enroll(c, good), 300) == 1  # rounded up, never 0
            assert len(_blocked_events(hub)) == 1
            clock.advance(0.8)
            r = _enroll(c, good, "kiosk-late")
            assert r.status_code == 200, r.text
            # The count started afresh after the block; a second block is a second event.
            assert _enroll(c, BAD_TOKEN).status_code == 401
            assert _enroll(c, BAD_TOKEN).status_code == 401
            _assert_too_many(_enroll(c, hub.mint_token().token, "kiosk-x"), 300)
            _assert_too_many(_enroll(c, hub.mint_token().token, "kiosk-x"), 300)
        assert len(_blocked_events(hub)) == 2


@pytest.mark.integration
def test_what_counts_as_a_failure(hub_factory):
    clock = FakeClock()
    base = hub_factory(start=False)
    with _hub_with_clock(base.dir, clock, enroll={"max_failures": 2, "window_s": 300}) as hub:
        with _client(hub) as c:
            # Successes neither count nor reset: fail, succeed twice, fail -> blocked.
            assert _enroll(c, BAD_TOKEN).status_code == 401
            for kiosk_id in ("k-a", "k-b"):
                r = _enroll(c, hub.mint_token().token, kiosk_id)
                assert r.status_code == 200, r.text
            assert _enroll(c, BAD_TOKEN).status_code == 401
            _assert_too_many(_enroll(c, hub.mint_token().token, "k-c"), 300)
            clock.advance(300)

            # A holder of a usable token may get its CSR wrong any number of times, and a
            # kiosk id already enrolled is its problem, not a guess: neither counts.
            tok = hub.mint_token().token
            for _ in range(4):
                r = _enroll(c, tok, body=b"this is not base64 !!")
                assert r.status_code == 400 and r.json()["error"]["code"] == "csr_invalid"
            for _ in range(3):
                r = _enroll(c, hub.mint_token().token, "k-a")
                assert r.status_code == 409 and r.json()["error"]["code"] == "device_exists"
            assert _enroll(c, tok, "k-d").status_code == 200

            # Without a usable token the CSR is never parsed: garbage gets token_invalid
            # (and counts), so does a wrong Content-Type.
            r = _enroll(c, BAD_TOKEN, body=b"this is not base64 !!")
            assert r.status_code == 401 and r.json()["error"]["code"] == "token_invalid"
            r = _enroll(c, BAD_TOKEN, **{"Content-Type": "application/json"})
            assert r.status_code == 415
            _assert_too_many(_enroll(c, hub.mint_token().token, "k-e"), 300)
        assert len(_blocked_events(hub)) == 2  # the two blocks of this test


@pytest.mark.integration
def test_the_kiosk_says_how_long_to_wait_when_blocked(hub_factory, tmp_path):
    """The kiosk's own enrollment client (``sohoa enroll``, the camera QR) turns the 429 into
    a plain sentence with the wait, in Vietnamese and English, and keeps nothing."""
    from firmware.store.paths import DataPaths
    from firmware.uplink.client import UplinkError
    from firmware.uplink.identity import enroll, load_identity
    from firmware.uplink.qr import parse_enroll_uri

    clock = FakeClock()
    base = hub_factory(start=False)
    with _hub_with_clock(base.dir, clock, enroll={"max_failures": 1, "window_s": 600}) as hub:
        with _client(hub) as c:
            assert _enroll(c, BAD_TOKEN).status_code == 401
        paths = DataPaths(tmp_path / "kiosk").ensure()
        ticket = parse_enroll_uri(hub.mint_token().uri)
        with pytest.raises(UplinkError) as info:
            enroll(paths, "kiosk-blocked", ticket)
        err = info.value
        assert err.code == "too_many_attempts" and err.transient
        assert "10 phút" in err.message_vi and "10 min" in err.message_en
        assert load_identity(paths) is None
        clock.advance(600)
        assert enroll(paths, "kiosk-blocked", ticket).hub_url == hub.url


# -- the shared (database) store ----------------------------------------------------------------


def test_database_limiter_follows_the_same_rules(tmp_path):
    from provisioning.hub.enroll_limit import DbEnrollLimiter
    from provisioning.hub.hub_db import HubDB

    db = HubDB(f"sqlite:///{tmp_path / 'hub.db'}")
    db.create_schema()
    clock = FakeClock(1_700_000_000.0)
    lim = DbEnrollLimiter(
        db.enroll_limits, max_failures=3, window_s=600, max_tracked=100, clock=clock
    )
    other = DbEnrollLimiter(
        db.enroll_limits, max_failures=3, window_s=600, max_tracked=100, clock=clock
    )
    try:
        lim.record_failure("10.0.0.1")
        other.record_failure("10.0.0.1")  # another replica: the same count
        lim.record_failure("10.0.0.1")
        first = other.check("10.0.0.1")
        assert (first.allowed, first.new_block, first.retry_after, first.failures) == (
            False,
            True,
            600,
            3,
        )
        clock.advance(100.5)
        again = lim.check("10.0.0.1")
        assert not again.allowed and not again.new_block and again.retry_after == 500
        assert lim.check("10.0.0.2").allowed
        clock.advance(499.5)
        assert lim.check("10.0.0.1").allowed  # block over, entry dropped
        for i in range(150):  # the table stays within max_tracked
            lim.record_failure(f"198.51.100.{i}")
        import sqlalchemy as sa

        from provisioning.hub.db import enroll_limits

        with db.engine.connect() as conn:
            n = conn.execute(sa.select(sa.func.count()).select_from(enroll_limits)).scalar_one()
        assert n == 100
    finally:
        db.close()


@pytest.mark.integration
def test_two_hub_replicas_share_the_enrollment_limit(hub_factory):
    """Two hub processes on one hub directory (one database), as behind a load balancer:
    failures made at one count at the other, and a restart forgets nothing."""
    a = hub_factory(enroll={"max_failures": 3, "window_s": 900})
    b = HubProcess(dir=a.dir, port=free_port(), overrides=a.overrides).start()
    try:
        with _client(a) as ca, _client(b) as cb:
            assert _enroll(ca, BAD_TOKEN).status_code == 401
            assert _enroll(cb, BAD_TOKEN).status_code == 401
            assert _enroll(ca, BAD_TOKEN).status_code == 401
            _assert_too_many(_enroll(cb, b.mint_token().token, "kiosk-b"), 900)
        b.stop()
        b.start()  # restarted: still blocked
        with _client(b) as cb:
            _assert_too_many(_enroll(cb, b.mint_token().token, "kiosk-b"), 900)
    finally:
        b.stop()
    assert len(_blocked_events(a)) == 1
