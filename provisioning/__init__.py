"""Fleet provisioning: the hub (central server) and the agent (on each kiosk).

The hub and agent arrive with the uplink/enrollment work; the package exists now so the
distribution's layout is stable and the agent can import ``firmware.config`` later.
"""
