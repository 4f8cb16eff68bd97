"""Sohoa kiosk core: capture sessions, page pipeline, OCR, sealing, catalog, audit.

Nothing in this package imports FastAPI: the web UI (``kiosk_ui``) sits on top of it.
"""

__version__ = "0.1.0"
