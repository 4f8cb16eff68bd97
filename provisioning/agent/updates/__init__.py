"""Software updates of the kiosk application, on the kiosk (issue 18, the agent's half).

- :mod:`.layout`: ``<root>/releases/<version>/`` and the atomic ``current`` switch.
- :mod:`.journal`: the fsynced record of the update in progress (what recovery reads).
- :mod:`.artifact`: verify the artifact against its TUF target, then unpack it safely.
- :mod:`.install`: a venv per release, installed without network.
- :mod:`.supervisor` and :mod:`.gate`: restart the service, self-test, trial, verdict.
- :mod:`.updater`: the steps in order, and recovery after a power cut at any of them.
- :mod:`.duty`: how the agent runs it.
"""
