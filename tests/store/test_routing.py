"""The confidentiality rule, in its one place."""

import pytest

from firmware.routing import (
    Level,
    Route,
    RoutingError,
    assert_may_upload,
    check_may_digitize,
    parse_level,
    route_for,
)


@pytest.mark.parametrize(
    ("value", "level"),
    [
        (None, Level.THUONG),
        ("", Level.THUONG),
        ("Thường", Level.THUONG),
        ("mat", Level.MAT),
        ("Mật", Level.MAT),
        ("Tối mật", Level.TOI_MAT),
        ("toi_mat", Level.TOI_MAT),
        ("TỐI MẬT", Level.TOI_MAT),
        ("Tuyệt mật", Level.TUYET_MAT),
    ],
)
def test_parse_level(value, level):
    assert parse_level(value) == level


def test_routes():
    assert route_for({"confidentiality": "thuong"}) == Route.UPLINK
    assert route_for({"confidentiality": "mat"}) == Route.SECURE_USB
    assert route_for({"confidentiality": "toi_mat"}) == Route.SECURE_USB


@pytest.mark.parametrize("level", ["mat", "toi_mat", "Mật", "Tối mật"])
def test_confidential_never_uploadable(level):
    with pytest.raises(RoutingError) as exc:
        assert_may_upload({"id": "D1", "confidentiality": level})
    assert exc.value.code == "confidential_not_uploadable"


def test_top_secret_is_refused_everywhere():
    with pytest.raises(RoutingError):
        check_may_digitize("Tuyệt mật")
    with pytest.raises(RoutingError):
        route_for({"confidentiality": "tuyet_mat"})


def test_unknown_level_is_an_error_not_ordinary():
    with pytest.raises(RoutingError):
        route_for({"confidentiality": "secret-ish"})
