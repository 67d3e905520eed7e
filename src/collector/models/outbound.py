"""Which hosts a download may reach: internal addresses are refused unless allowed.

An internal address is one the collector's machine can reach but the public cannot
(loopback, private, link-local, shared, multicast, reserved, unspecified). A URL
whose host is one, in any spelling a browser or ``getaddrinfo`` accepts
(``0x7f000001``, ``2130706433``, ``0177.0.0.1``, ``127.1``, ``[::ffff:7f00:1]``), is
refused when queued, without a DNS look-up; the worker checks again the address it
actually connects to. ``AllowedHosts`` (COLLECTOR_ALLOWED_HOSTS and the
``allowed_hosts`` setting) lists the names, addresses and networks let through.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOW_HINT = "allow it with COLLECTOR_ALLOWED_HOSTS or `collector settings allowed_hosts`"
# Names that lead inside by definition (RFC 6761, 6762, 8375, ICANN's .internal).
LOCAL_NAMES = ("localhost", "localhost.localdomain")
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".localdomain")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
SHARED = ipaddress.ip_network("100.64.0.0/10")
IPV4_MAX = 0xFFFFFFFF


def normalise_host(host: str) -> str:
    """``host`` as a resolver sees it: unquoted, IDNA-folded, lower case, no trailing dot.

    Folding maps full-width digits and ideographic full stops to ASCII, as yt-dlp
    does before connecting.
    """
    host = unquote(host).strip("[]").lower()
    host = host.split("%", 1)[0] if ":" in host else host  # an IPv6 zone id
    with contextlib.suppress(UnicodeError):  # not a valid name: left as it is
        host = host.encode("idna").decode("ascii")
    return host[:-1] if host.endswith(".") and not host.endswith("..") else host


def _ipv4_part(part: str) -> int | None:
    """One part of a numeric IPv4 host, in inet_aton's bases: 0x hex, 0 octal, decimal."""
    try:
        if part[:2] in ("0x", "0X"):
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part.startswith("0"):
            return int(part[1:], 8)
        return int(part, 10) if part.isdigit() else None
    except ValueError:
        return None


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address ``host`` spells in inet_aton's forms (a, a.b, a.b.c, a.b.c.d)."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(parts):
        return None
    numbers = [_ipv4_part(p) for p in parts]
    if any(n is None for n in numbers):
        return None
    *leading, last = [n for n in numbers if n is not None]
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(parts)):
        return None
    value = last
    for index, number in enumerate(leading):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value) if value <= IPV4_MAX else None


def parse_address(host: str) -> IPAddress | None:
    """The address a host (already normalised) spells, or None for a name."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            return None
    return _inet_aton(host)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, 6to4 or NAT64 (64:ff9b::/96) address."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & IPV4_MAX)
    return None


def internal_kind(address: IPAddress) -> str | None:
    """What makes ``address`` internal (``loopback``, ``private``...), or None if public."""
    inner = embedded_ipv4(address)
    if inner is not None:
        return internal_kind(inner)
    for kind in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    if isinstance(address, ipaddress.IPv4Address) and address in SHARED:
        return "shared"
    return None if address.is_global else "not global"


def local_name(host: str) -> bool:
    """Whether a host name leads inside by definition, or has a single label (``db``)."""
    return host in LOCAL_NAMES or host.endswith(LOCAL_SUFFIXES) or "." not in host


@dataclass(frozen=True)
class AllowedHosts:
    """Host names, addresses and networks a download may reach though they are internal."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str) -> AllowedHosts:
        """From a comma-separated list: names, addresses, CIDR networks; ValueError if bad."""
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in (entry.strip() for entry in text.split(",")):
            if not raw:
                continue
            network = _network(raw)
            if network is not None:
                networks.append(network)
            elif _is_host_name(host := normalise_host(raw)):
                names.add(host)
            else:
                raise ValueError(
                    f"{raw!r} is not a host name, an address or a network such as "
                    "10.0.0.0/8 (entries name hosts, not ports)"
                )
        return cls(frozenset(names), tuple(dict.fromkeys(networks)))

    def __or__(self, other: AllowedHosts) -> AllowedHosts:
        return AllowedHosts(
            self.names | other.names, tuple(dict.fromkeys(self.networks + other.networks))
        )

    def __str__(self) -> str:
        return ",".join([*sorted(self.names), *(_shown(n) for n in self.networks)])

    def __bool__(self) -> bool:
        return bool(self.names or self.networks)

    @property
    def allows_everything(self) -> bool:
        """Whether every IPv4 and IPv6 address is allowed (0.0.0.0/0 and ::/0)."""
        return {n.version for n in self.networks if n.prefixlen == 0} == {4, 6}

    def allows_name(self, host: str) -> bool:
        """Whether the (normalised) host name is listed."""
        return host in self.names

    def allows_address(self, address: IPAddress) -> bool:
        """Whether ``address`` (or the IPv4 address inside it) is in a listed network."""
        candidates: Iterable[IPAddress] = (address, *filter(None, [embedded_ipv4(address)]))
        return any(a in n for a in candidates for n in self.networks if a.version == n.version)


NO_HOSTS = AllowedHosts()


def _network(text: str) -> IPNetwork | None:
    """An address (as a /32 or /128) or a CIDR network, or None if ``text`` is neither."""
    address_text, slash, prefix = text.partition("/")
    address = parse_address(normalise_host(address_text))
    if address is None:
        if slash:
            raise ValueError(f"{text!r} is not a network (such as 10.0.0.0/8 or fd00::/8)")
        return None
    try:
        return ipaddress.ip_network(f"{address}/{prefix or address.max_prefixlen}")
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a network: {exc}") from None


def _is_host_name(host: str) -> bool:
    labels = host.split(".")
    return 0 < len(host) <= 253 and all(
        0 < len(label) <= 63 and all(c.isalnum() or c in "-_" for c in label) and label.isascii()
        for label in labels
    )


def _shown(network: IPNetwork) -> str:
    return (
        str(network.network_address) if network.prefixlen == network.max_prefixlen else str(network)
    )


@functools.lru_cache(maxsize=1024)
def refusal(host: str, allowed: AllowedHosts) -> str | None:
    """Why a URL with this host is refused before any look-up, or None if it may be queued.

    Kept per host and list (a queue of a thousand URLs has a few hosts): parsing a host
    was a fifth of the Python time of queueing a batch."""
    name = normalise_host(host)
    if allowed.allows_name(name):
        return None
    address = parse_address(name)
    if address is not None:
        kind = internal_kind(address)
        if kind is None or allowed.allows_address(address):
            return None
        return f"refused: {host} is an internal address ({address}, {kind}); {ALLOW_HINT}"
    if local_name(name):
        return f"refused: {host} is a local host name; {ALLOW_HINT}"
    return None
