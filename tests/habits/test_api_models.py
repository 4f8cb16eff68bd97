"""Every JSON route of the kiosk UI declares its answer as a model (issue #13), so the
OpenAPI schema says what each route returns, and the models of :mod:`kiosk_ui.schemas`
refuse a field they do not declare: a response model silently drops unknown fields, and a
field the browser reads would vanish from its screen. Routes that answer a file, a picture
or a stream return a ``Response`` instead, said by their return annotation."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator

from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.responses import Response

from kiosk_ui.routers import ROUTERS


def routes() -> list[APIRoute]:
    return [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]


def answers_a_response(route: APIRoute) -> bool:
    ret = typing.get_type_hints(route.endpoint).get("return")
    return isinstance(ret, type) and issubclass(ret, Response)


def models_in(annotation: object) -> Iterator[type[BaseModel]]:
    """Every pydantic model an annotation names, nested ones included."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        for field in annotation.model_fields.values():
            yield from models_in(field.annotation)
        return
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            yield from models_in(arg)


def test_every_json_route_declares_its_answer():
    found = routes()
    assert len(found) >= 50, "the routers no longer list their routes"
    untyped = [
        f"{'/'.join(sorted(r.methods))} {r.path}"
        for r in found
        if r.response_model is None and not answers_a_response(r)
    ]
    assert untyped == []


def test_the_api_models_refuse_a_field_they_do_not_declare():
    checked, lax = set(), set()
    for r in routes():
        for model in models_in(r.response_model):
            if not model.__module__.startswith("kiosk_ui.schemas"):
                continue  # the Export screen's models are built in code (kiosk_ui.export_views)
            checked.add(model)
            if model.model_config.get("extra") != "forbid":
                lax.add(f"{model.__module__}.{model.__qualname__}")
    assert len(checked) >= 40, "the walk no longer reaches the models"
    assert sorted(lax) == []
