"""Fleet provisioning: the hub (central server) and the agent (on each kiosk).

``schemas`` is the kiosk-hub wire contract (the only module both sides import); ``hub`` is
the fleet hub (``sohoa hub``), which imports nothing else of the kiosk.
"""
