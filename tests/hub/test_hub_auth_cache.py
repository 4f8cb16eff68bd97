"""The signature check's cache and the collector tuning that keep the hub's tail short.

Both exist for ``bench/fleet.py``'s p99; neither may loosen what they speed up: a cached
answer is still per (certificate, CA) pair, so a forged CA of the same name is refused, and
the tuning still collects garbage.
"""

from __future__ import annotations

import gc

import pytest

from provisioning import schemas
from provisioning.hub import auth, pki
from provisioning.hub.errors import HubError
from provisioning.hub.server import GC_THRESHOLDS, tune_collector


def _device_cert(ca_key, ca_cert, kiosk_id: str):
    csr = pki.make_csr(pki.new_key(), kiosk_id)
    return pki.issue_device_cert(ca_key, ca_cert, csr, days=30).cert


def test_cached_answers_stay_per_certificate_and_ca():
    ca_key, ca = pki.make_ca("hub-test")
    forged_key, forged = pki.make_ca("hub-test")  # the same name, another key
    assert forged.subject == ca.subject
    genuine = _device_cert(ca_key, ca, "kiosk-1")
    impostor = _device_cert(forged_key, forged, "kiosk-1")
    for _ in range(2):  # the second round answers from the cache
        assert auth.issued_by(genuine, ca)
        assert not auth.issued_by(impostor, ca)
        assert not auth.issued_by(genuine, forged)
        assert auth.issued_by(impostor, forged)


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(auth, "_verified", {})
    monkeypatch.setattr(auth, "VERIFIED_MAX", 3)
    ca_key, ca = pki.make_ca("hub-test")
    other_key, other = pki.make_ca("hub-other")
    certs = [_device_cert(ca_key, ca, f"kiosk-{i}") for i in range(5)]
    certs.append(_device_cert(other_key, other, "kiosk-x"))
    for _ in range(2):
        answers = [auth.issued_by(c, ca) for c in certs]
        assert answers == [True] * 5 + [False]
        assert len(auth._verified) <= 3


def test_authenticate_refuses_a_certificate_of_a_forged_ca():
    ca_key, ca = pki.make_ca("hub-test")
    forged_key, forged = pki.make_ca("hub-test")
    impostor = _device_cert(forged_key, forged, "kiosk-1")
    assert auth.issued_by(_device_cert(ca_key, ca, "kiosk-1"), ca)  # the genuine one, cached
    with pytest.raises(HubError) as err:
        auth.authenticate(impostor, ca, db=None)  # type: ignore[arg-type]  # refused first
    assert err.value.code == schemas.E_CERT_INVALID
    assert "not issued by the fleet CA" in err.value.message


def test_tune_collector_freezes_start_up_and_still_collects():
    before = gc.get_threshold()
    try:
        tune_collector()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0

        class Node:
            pass

        a, b = Node(), Node()
        a.other, b.other = b, a  # type: ignore[attr-defined]
        del a, b
        assert gc.collect() >= 2  # a cycle made after start-up is still garbage
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
