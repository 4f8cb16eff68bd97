"""PIN lockout under parallel guessing (issue #14): the check of the lock and the count of
the attempt are one step, so at most ``max_failures`` PINs are ever verified per lockout
window, whether the guesses come one by one, from 25 threads or as concurrent requests."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from firmware.errors import KioskError
from firmware.store.operators import Operators
from kiosk_ui.app import UiOptions, create_app

LIMIT = 5


def _verified(catalog, code: str = "1001") -> int:
    """PINs really checked: each failed check and each success leaves one audit record."""
    rows = catalog.db.execute(
        "SELECT COUNT(*) FROM audit WHERE actor = ? AND action IN "
        "('operator.signin_failed', 'operator.signin')",
        [code],
    ).fetchone()
    return rows[0]


def _race(n: int, attempt) -> list[str]:
    """Run ``attempt(i)`` in ``n`` threads released at the same instant."""
    start = threading.Barrier(n)

    def one(i: int) -> str:
        start.wait()
        return attempt(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


@pytest.fixture
def ops(kiosk_factory):
    o = Operators(kiosk_factory().catalog, max_failures=LIMIT, lockout_s=300)
    o.add("1001", "Nguyễn Thị Lan", "operator", "1234", "test")
    return o


@pytest.mark.parametrize("wrong", [20, 30])
def test_parallel_wrong_pins_verify_at_most_the_limit(ops, wrong):
    def attempt(i: int) -> str:
        pin = "1234" if i == wrong else f"{5000 + i:04d}"
        try:
            ops.authenticate("1001", pin)
            return "signed_in"
        except KioskError as exc:
            return exc.code

    outcomes = _race(wrong + 1, attempt)
    actions = [
        r[0]
        for r in ops.db.execute(
            "SELECT action FROM audit WHERE actor='1001' AND action IN "
            "('operator.signin_failed', 'operator.signin') ORDER BY seq"
        )
    ]
    if outcomes[wrong] == "signed_in":
        # The right PIN got one of the LIMIT slots. Its success starts a new window only if
        # no guess took a slot while it was being checked (the test below holds that case
        # still), so the guesses checked are at most the slots before it plus one window.
        failed = [a for a in actions if a == "operator.signin_failed"]
        assert len(failed) <= 2 * LIMIT - 1, (outcomes, actions)
        slots = [
            json.loads(r[0])["failures"]
            for r in ops.db.execute(
                "SELECT details FROM audit WHERE actor='1001' AND action='operator.signin_failed'"
            )
        ]
        assert max(slots) <= LIMIT, slots
    else:
        assert outcomes[wrong] == "locked_out"
        assert len(actions) <= LIMIT, (outcomes, actions)
        # Once the guesses are spent the right PIN is refused without being checked.
        with pytest.raises(KioskError) as e:
            ops.authenticate("1001", "1234")
        assert e.value.code == "locked_out" and _verified(ops.catalog) == len(actions)
    assert outcomes.count("bad_credentials") + outcomes.count("locked_out") >= wrong


def test_right_pin_after_a_parallel_burst_is_locked_out(ops):
    outcomes = _race(25, lambda i: _code(ops, f"{6000 + i:04d}"))
    assert outcomes.count("bad_credentials") <= LIMIT - 1
    assert _verified(ops.catalog) <= LIMIT
    assert _code(ops, "1234") == "locked_out"


def _code(ops: Operators, pin: str) -> str:
    try:
        ops.authenticate("1001", pin)
        return "signed_in"
    except KioskError as exc:
        return exc.code


def test_concurrent_login_requests_verify_at_most_the_limit(kiosk_factory):
    kiosk = kiosk_factory(workers=1)
    app = create_app(kiosk, UiOptions(idle_timeout_s=60))
    app.state.ui.operators.add("1001", "Nguyễn Thị Lan", "operator", "1234", "test")
    with TestClient(app, base_url="http://127.0.0.1") as client:

        def attempt(i: int) -> int:
            pin = "1234" if i == 20 else f"{7000 + i:04d}"
            r = client.post("/api/v1/session/login", json={"code": "1001", "pin": pin})
            return r.status_code

        statuses = _race(21, attempt)
    # Wrong PINs answer 401 while slots last, then 423; nothing is checked beyond the slots
    # (a right PIN inside them starts a new window, so at most two windows' worth).
    assert statuses.count(200) <= 1 and statuses[20] in (200, 423)
    windows = 2 if statuses[20] == 200 else 1
    assert _verified(kiosk.catalog) <= windows * LIMIT, statuses
    assert statuses.count(401) <= windows * LIMIT - 1
    assert statuses.count(423) >= 20 - windows * LIMIT


class _HeldHasher:
    """The real argon2 hasher, except that the right PIN's check waits until released:
    the interleaving a loaded machine produces by chance, made certain."""

    def __init__(self, real, right: str) -> None:
        self.real, self.right = real, right
        self.checking, self.release = threading.Event(), threading.Event()

    def hash(self, pin: str) -> str:
        return self.real.hash(pin)

    def verify(self, hashed: str, pin: str) -> bool:
        if pin == self.right:
            self.checking.set()
            assert self.release.wait(30)
        return self.real.verify(hashed, pin)


def test_guesses_during_a_right_pins_check_keep_their_slots(ops, monkeypatch):
    """Wrong PINs that take the remaining slots (and set the lock) while a right PIN is
    being checked stay counted: the right PIN's success does not reopen the window."""
    import firmware.store.operators as operators_module

    held = _HeldHasher(operators_module._hasher, "1234")
    monkeypatch.setattr(operators_module, "_hasher", held)
    with ThreadPoolExecutor(1) as pool:
        right = pool.submit(ops.authenticate, "1001", "1234")
        assert held.checking.wait(30)
        during = [_code(ops, f"{8000 + i:04d}") for i in range(LIMIT)]
        held.release.set()
        assert right.result().code == "1001"
    assert during == ["bad_credentials"] * (LIMIT - 2) + ["locked_out", "locked_out"]
    checked = _verified(ops.catalog)
    assert _code(ops, "8999") == "locked_out"
    assert _verified(ops.catalog) == checked == LIMIT  # 4 wrong + the right one, no more


def test_a_right_pin_alone_starts_the_count_again(ops):
    for i in range(LIMIT - 1):
        assert _code(ops, f"{9000 + i:04d}") == "bad_credentials"
    assert _code(ops, "1234") == "signed_in"
    assert [_code(ops, f"{9100 + i:04d}") for i in range(LIMIT)] == (
        ["bad_credentials"] * (LIMIT - 1) + ["locked_out"]
    )
