"""A limit on failed enrollment attempts per client address (``[enroll]`` in hub.toml).

``/.well-known/est/simpleenroll`` is the one route a caller without a device certificate
may use. Tokens are 32 random bytes stored hashed, so guessing one is hopeless; the limit
exists because a broken or hostile client can still hammer the route (every attempt costs a
database look-up and, with a usable token, a CSR parse) and because IT should learn that
someone keeps trying. It is a first line, not a firewall:

- **Keyed by the ASGI ``client`` host.** Behind a load balancer every kiosk shows up with the
  balancer's address unless uvicorn's proxy headers are set up: uvicorn rewrites ``client``
  from ``X-Forwarded-For`` only for peers listed in ``forwarded_allow_ips`` (uvicorn's
  default, read from the ``FORWARDED_ALLOW_IPS`` environment variable, is
  ``127.0.0.1,::1``; the hub's ``server.py`` sets neither ``proxy_headers`` nor
  ``forwarded_allow_ips``, so that default applies). Mutual TLS needs the balancer to pass
  TLS through (layer 4), and such a balancer cannot add ``X-Forwarded-For``: then all
  enrollments share the balancer's address and one bad client blocks enrollment for all.
  Kiosks of one office behind one NAT router also share an address.
- **Sliding window, then a lockout.** Up to ``max_failures`` failures are kept per address;
  once ``max_failures`` fall within the last ``window_s`` seconds, the next request from that
  address is refused (429) and starts a block of ``window_s`` seconds during which every
  request from it is refused, whether its token is good or not (the address is limited, not
  the token). When the block ends the address starts again with a clean count. Only the
  first refusal of a block is reported (:attr:`Verdict.new_block`), so IT gets one event per
  block, not one per request.
- **In memory, per hub process.** Several replicas each keep their own table (a client may
  get ``max_failures`` tries per replica); a restart forgets everything. Acceptable for a
  first line; a shared store would be the next step if it is not.
- **Bounded.** Entries whose last failure and block are over are dropped as the table is
  used (oldest first, O(1) amortised); at ``max_tracked`` addresses the least recently
  active entry is evicted, even a blocked one, so a flood from more distinct addresses than
  that can free a blocked address early. Memory stays bounded; floods of that size are for
  the network's own defences.

The route decides what counts as a failure (see ``est.simpleenroll``); this class only
counts, remembers and answers. A request is checked when it arrives and its failure counted
when it ends, so requests already in flight when the limit is reached still finish (the
overshoot is bounded by one client's concurrent connections). Calls happen on the event loop; a lock makes the class safe
from worker threads too. ``clock`` is injectable (monotonic seconds) so tests move time
instead of sleeping through a window.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provisioning.hub.config import EnrollConfig

log = logging.getLogger("sohoa.hub")

#: The key for a request whose ASGI scope names no client (not a TCP connection).
UNKNOWN_CLIENT = "unknown"


@dataclass(frozen=True)
class Verdict:
    """The limiter's answer for one request.

    ``retry_after``: whole seconds until the block ends (refusals only, at least 1).
    ``new_block``: this refusal started the block; the caller records it once.
    ``failures``: failures inside the window that led to the block (refusals only).
    """

    allowed: bool
    retry_after: int = 0
    new_block: bool = False
    failures: int = 0


@dataclass
class _Entry:
    failures: deque[float]
    blocked_until: float = 0.0
    #: Last failure or block start; the table is ordered by it (oldest first).
    touched: float = 0.0
    failures_at_block: int = 0


class EnrollLimiter:
    """Failed enrollment attempts per address: ``max_failures`` per ``window_s`` seconds."""

    def __init__(
        self,
        max_failures: int,
        window_s: float,
        max_tracked: int,
        clock: Callable[[], float] = time.monotonic,
    ):
        if max_failures < 1 or window_s <= 0 or max_tracked < 1:
            raise ValueError("max_failures, window_s and max_tracked must be positive")
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_tracked = max_tracked
        self.clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._full_warned = False
        #: Entries dropped because the table was full (not merely stale); for logs and tests.
        self.evictions = 0

    @classmethod
    def from_config(
        cls, cfg: EnrollConfig, clock: Callable[[], float] = time.monotonic
    ) -> EnrollLimiter:
        return cls(cfg.max_failures, cfg.window_s, cfg.max_tracked, clock=clock)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, address: object) -> bool:
        return address in self._entries

    def _stale(self, entry: _Entry, now: float) -> bool:
        # Both the newest failure and a block's start are ``touched``, and a block lasts
        # one window, so one comparison says "nothing about this address matters any more".
        return entry.touched + self.window_s <= now

    def _prune(self, now: float) -> int:
        """Drop stale entries from the old end of the table; how many went."""
        dropped = 0
        while self._entries:
            entry = next(iter(self._entries.values()))
            if not self._stale(entry, now):
                break
            self._entries.popitem(last=False)
            dropped += 1
        if self._full_warned and len(self._entries) < self.max_tracked // 2:
            self._full_warned = False
        return dropped

    def prune(self) -> int:
        """Drop every entry that no longer limits anything (also done while counting)."""
        with self._lock:
            return self._prune(self.clock())

    def check(self, address: str) -> Verdict:
        """May ``address`` attempt an enrollment now? Call before any work on the request."""
        with self._lock:
            now = self.clock()
            entry = self._entries.get(address)
            if entry is None:
                return Verdict(True)
            if entry.blocked_until > now:
                return Verdict(
                    False,
                    retry_after=max(1, math.ceil(entry.blocked_until - now)),
                    failures=entry.failures_at_block,
                )
            if self._stale(entry, now):  # an old block or old failures: start afresh
                del self._entries[address]
                return Verdict(True)
            cutoff = now - self.window_s
            while entry.failures and entry.failures[0] <= cutoff:
                entry.failures.popleft()
            if len(entry.failures) < self.max_failures:
                return Verdict(True)
            entry.failures_at_block = len(entry.failures)
            entry.failures.clear()
            entry.blocked_until = now + self.window_s
            entry.touched = now
            self._entries.move_to_end(address)
            return Verdict(
                False,
                retry_after=max(1, math.ceil(self.window_s)),
                new_block=True,
                failures=entry.failures_at_block,
            )

    def record_failure(self, address: str) -> None:
        """Count one failed attempt from ``address`` (successes are never recorded)."""
        with self._lock:
            now = self.clock()
            self._prune(now)
            entry = self._entries.get(address)
            if entry is None:
                while len(self._entries) >= self.max_tracked:
                    self._entries.popitem(last=False)
                    self.evictions += 1
                    if not self._full_warned:
                        self._full_warned = True
                        log.warning(
                            "enrollment limiter: %d addresses with recent failures (the cap, "
                            "[enroll] max_tracked); evicting the least recently active",
                            self.max_tracked,
                        )
                entry = _Entry(failures=deque(maxlen=self.max_failures))
                self._entries[address] = entry
            else:
                self._entries.move_to_end(address)
            entry.failures.append(now)
            entry.touched = now
