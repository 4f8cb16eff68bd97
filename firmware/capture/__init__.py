"""Capture around the kiosk: the capture session (stills, scanner pages, preview and
quality gate), the pedal-down still, the document flow and page edits, the LEDs and
buzzer, the per-frame looks, the devices, start-up recovery."""
