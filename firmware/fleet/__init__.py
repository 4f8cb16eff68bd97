"""The kiosk's side of fleet management: the local interface with the agent (:mod:`link`)
and the signed fleet configuration overlaid on the local settings (:mod:`config`)."""
