"""The JSON API's answers as typed models: the OpenAPI schema of every JSON route under
``/api/v1`` (issue #13), one module per concern like the routers in :mod:`kiosk_ui.routers`.

The payloads are built as plain dicts by :mod:`kiosk_ui.views` (and the firmware functions
the routers call), which the HTML screens share; these models describe those dicts field by
field. Every model refuses a field it does not declare (:class:`~kiosk_ui.schemas.base.Payload`):
a response model silently drops unknown fields, and a field the browser reads would vanish
from its screen without a word, so a view that grows a field fails loudly until its model
says what the field is. The Export screen's models live beside their views in
:mod:`kiosk_ui.export_views`.
"""
