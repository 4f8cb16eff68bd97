"""Small neutral helpers that the kiosk and the fleet hub both use.

The hub imports nothing of the kiosk (``firmware``), and the kiosk nothing of the hub; what
both need (crash-safe writes, reading a TOML file with ``file:line`` errors) lives here once.
Nothing in this package imports any other package of the project.
"""
