"""The fleet agent on each kiosk (``sohoa agent``): its own process, user and systemd unit.

It talks to the hub over the kiosk's mutual-TLS identity from enrollment and to the kiosk
service only through :mod:`firmware.fleet.link` (files each side owns), so the kiosk keeps
scanning when the agent or the hub is down.

Modules: :mod:`state` (the agent's own fsynced state file), :mod:`telemetry` (what a
heartbeat says), :mod:`hub_link` (the mTLS connection, kept alive between polls),
:mod:`renewal` (certificate renewal at two thirds of its life, re-keying), :mod:`agent`
(the loop: one :meth:`~agent.Agent.step` per interval, backoff with jitter). Each duty of a
step is a :class:`~agent.Duty`, so the signed configuration, remote commands and (issue 18)
software updates plug in as further duties without touching the loop.
"""
