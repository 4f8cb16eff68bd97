"""A limit on failed enrollment attempts per client address (``[enroll]`` in hub.toml).

``/.well-known/est/simpleenroll`` is the one route a caller without a device certificate
may use. Tokens are 32 random bytes stored hashed, so guessing one is hopeless; the limit
exists because a broken or hostile client can still hammer the route (every attempt costs a
database look-up and, with a usable token, a CSR parse) and because IT should learn that
someone keeps trying. It is a first line, not a firewall:

- **Keyed by the ASGI ``client`` host.** That is the TCP peer unless the peer is listed in
  hub.toml's ``trusted_proxies`` (none by default): only then does uvicorn rewrite
  ``client`` from ``X-Forwarded-For`` (``server.py``). Behind a load balancer that
  terminates TLS, list it there. Mutual TLS needs the balancer to pass TLS through
  (layer 4), and such a balancer cannot add ``X-Forwarded-For``: then all enrollments share
  the balancer's address and one bad client blocks enrollment for all. Kiosks of one
  office behind one NAT router also share an address.
- **Sliding window, then a lockout.** Up to ``max_failures`` failures are kept per address;
  once ``max_failures`` fall within the last ``window_s`` seconds, the next request from that
  address is refused (429) and starts a block of ``window_s`` seconds during which every
  request from it is refused, whether its token is good or not (the address is limited, not
  the token). When the block ends the address starts again with a clean count. Only the
  first refusal of a block is reported (:attr:`Verdict.new_block`), so IT gets one event per
  block, not one per request.
- **In the hub database by default** (:class:`DbEnrollLimiter`, table ``enroll_limits``),
  so several hub replicas share one count and a restart forgets nothing; its clock is the
  wall clock (``time.time``), which replicas share. :class:`EnrollLimiter` keeps the same
  state in memory (one process; tests drive it with their own clock). Both decide with the
  same functions (:func:`decide`, :func:`add_failure`), so the rules exist once.
- **Bounded.** Entries whose last failure and block are over are dropped as the table is
  used (oldest first, O(1) amortised); at ``max_tracked`` addresses the least recently
  active entry is evicted, even a blocked one, so a flood from more distinct addresses than
  that can free a blocked address early. Memory stays bounded; floods of that size are for
  the network's own defences.

The route decides what counts as a failure (see ``est.simpleenroll``); this class only
counts, remembers and answers. A request is checked when it arrives and its failure counted
when it ends, so requests already in flight when the limit is reached still finish (the
overshoot is bounded by one client's concurrent connections; with the database store, also
by requests racing on several replicas). The routes call the limiter from worker threads; a
lock makes the memory store safe there. ``clock`` is injectable so tests move time instead of
sleeping through a window.
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
    from provisioning.hub.enroll_limit_db import EnrollLimitDB

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
class LimitEntry:
    """What the limit remembers of one address (times in the limiter's clock seconds)."""

    failures: deque[float]
    blocked_until: float = 0.0
    #: Last failure or block start; the table is ordered by it (oldest first).
    touched: float = 0.0
    failures_at_block: int = 0


class EnrollLimiter:
    """Failed enrollment attempts per address: ``max_failures`` per ``window_s`` seconds,
    counted in this process's memory."""

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
        self._entries: OrderedDict[str, LimitEntry] = OrderedDict()
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

    def _stale(self, entry: LimitEntry, now: float) -> bool:
        return stale(entry, now, self.window_s)

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
            verdict, action = decide(entry, now, self.max_failures, self.window_s)
            if action == DROP:
                del self._entries[address]
            elif action == UPDATE:
                self._entries.move_to_end(address)
            return verdict

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
                    self._warn_full()
                self._entries[address] = add_failure(None, now, self.max_failures)
            else:
                self._entries.move_to_end(address)
                add_failure(entry, now, self.max_failures)

    def _warn_full(self) -> None:
        if not self._full_warned:
            self._full_warned = True
            log.warning(
                "enrollment limiter: %d addresses with recent failures (the cap, "
                "[enroll] max_tracked); evicting the least recently active",
                self.max_tracked,
            )


#: What :func:`decide` asks the store to do with the address's entry.
KEEP, DROP, UPDATE = "keep", "drop", "update"


def stale(entry: LimitEntry, now: float, window_s: float) -> bool:
    """Nothing about this address matters any more: both the newest failure and a block's
    start are ``touched``, and a block lasts one window."""
    return entry.touched + window_s <= now


def decide(
    entry: LimitEntry | None, now: float, max_failures: int, window_s: float
) -> tuple[Verdict, str]:
    """The verdict for a request from an address with ``entry``, and what to do with the
    entry (:data:`KEEP`, :data:`DROP`, or :data:`UPDATE` after changing it in place)."""
    if entry is None:
        return Verdict(True), KEEP
    if entry.blocked_until > now:
        return (
            Verdict(
                False,
                retry_after=max(1, math.ceil(entry.blocked_until - now)),
                failures=entry.failures_at_block,
            ),
            KEEP,
        )
    if stale(entry, now, window_s):  # an old block or old failures: start afresh
        return Verdict(True), DROP
    cutoff = now - window_s
    while entry.failures and entry.failures[0] <= cutoff:
        entry.failures.popleft()
    if len(entry.failures) < max_failures:
        return Verdict(True), KEEP
    entry.failures_at_block = len(entry.failures)
    entry.failures.clear()
    entry.blocked_until = now + window_s
    entry.touched = now
    return (
        Verdict(
            False,
            retry_after=max(1, math.ceil(window_s)),
            new_block=True,
            failures=entry.failures_at_block,
        ),
        UPDATE,
    )


def add_failure(entry: LimitEntry | None, now: float, max_failures: int) -> LimitEntry:
    """``entry`` (or a new one) with one more failure at ``now``; only the newest
    ``max_failures`` are kept, which is all a verdict needs."""
    if entry is None:
        entry = LimitEntry(failures=deque(maxlen=max_failures))
    entry.failures.append(now)
    while len(entry.failures) > max_failures:  # a stored entry's deque has no maxlen
        entry.failures.popleft()
    entry.touched = now
    return entry


class DbEnrollLimiter:
    """The same limit with its state in the hub database, shared by every hub replica.

    Each call is one transaction. Stale rows are deleted as failures are counted; at
    ``max_tracked`` addresses the least recently active row is deleted first.
    """

    def __init__(
        self,
        db: EnrollLimitDB,
        max_failures: int,
        window_s: float,
        max_tracked: int,
        clock: Callable[[], float] = time.time,
    ):
        if max_failures < 1 or window_s <= 0 or max_tracked < 1:
            raise ValueError("max_failures, window_s and max_tracked must be positive")
        self.db = db
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_tracked = max_tracked
        self.clock = clock

    @classmethod
    def from_config(
        cls, cfg: EnrollConfig, db: EnrollLimitDB, clock: Callable[[], float] = time.time
    ) -> DbEnrollLimiter:
        return cls(db, cfg.max_failures, cfg.window_s, cfg.max_tracked, clock=clock)

    def check(self, address: str) -> Verdict:
        """May ``address`` attempt an enrollment now? Call before any work on the request."""
        now = self.clock()

        def step(entry: LimitEntry | None) -> tuple[Verdict, str]:
            return decide(entry, now, self.max_failures, self.window_s)

        return self.db.enroll_limit_step(address, step)

    def record_failure(self, address: str) -> None:
        """Count one failed attempt from ``address`` (successes are never recorded)."""
        now = self.clock()
        evicted = self.db.enroll_limit_failure(
            address,
            now,
            lambda entry: add_failure(entry, now, self.max_failures),
            stale_before=now - self.window_s,
            max_tracked=self.max_tracked,
        )
        if evicted:
            log.warning(
                "enrollment limiter: %d addresses with recent failures (the cap, [enroll] "
                "max_tracked); evicted the %d least recently active",
                self.max_tracked,
                evicted,
            )
