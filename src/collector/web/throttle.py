"""Failed sign-ins counted per client: after too many in a window, the client waits.

A sliding window per client: the times of its last ``max_failures`` failed attempts.
Once it holds ``max_failures`` failures younger than ``window`` seconds, the client
is refused until the oldest of them is ``window`` seconds old. In memory, one table
per process, guarded by a lock (waitress serves from several threads), and bounded:
at ``max_clients`` entries the least recently failing client is forgotten first, so
a spray of addresses costs a fixed amount of memory.

A client is the address the request came from (``request.remote_addr``); IPv6
addresses count by their /64 network, which one host usually holds whole.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

MAX_FAILURES = 5
WINDOW_SECONDS = 60.0
MAX_CLIENTS = 10_000


def client_key(address: str | None) -> str:
    """The counter an address is charged to: itself, or its /64 for IPv6."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:198.51.100.7 is 198.51.100.7
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class FailureThrottle:
    """Counts failed attempts per client and says how long a refused client waits."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window: float = WINDOW_SECONDS,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 1 or window <= 0 or max_clients < 1:
            raise ValueError("max_failures and max_clients must be >= 1 and window > 0")
        self.max_failures, self.window, self.max_clients = max_failures, window, max_clients
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int:
        """Whole seconds ``client`` must wait before its next attempt; 0 if it may try now."""
        with self._lock:
            times = self._failures.get(client)
            if times is None or len(times) < self.max_failures:
                return 0
            wait = times[0] + self.window - self.clock()
            return math.ceil(wait) if wait > 0 else 0

    def failed(self, client: str) -> None:
        """Count a failed attempt of ``client``."""
        with self._lock:
            times = self._failures.get(client)
            if times is None:
                self._make_room()
                times = self._failures[client] = deque(maxlen=self.max_failures)
            times.append(self.clock())
            self._failures.move_to_end(client)

    def __len__(self) -> int:
        with self._lock:
            return len(self._failures)

    def _make_room(self) -> None:
        """Below ``max_clients``: drop expired clients, then the least recently failing."""
        now = self.clock()
        while self._failures:
            oldest_client, times = next(iter(self._failures.items()))
            expired = times[-1] + self.window <= now
            if not expired and len(self._failures) < self.max_clients:
                return
            del self._failures[oldest_client]
