"""The kiosk's web UI (FastAPI): touchscreen pages and the JSON API under /api/v1."""
