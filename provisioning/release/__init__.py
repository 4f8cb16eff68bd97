"""Release artifacts of the kiosk software: what ``sohoa release build`` makes and what the
agent's updater (:mod:`provisioning.agent.updates`) checks before it unpacks anything."""
