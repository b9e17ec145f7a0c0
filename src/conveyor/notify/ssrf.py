"""The SSRF guard: a callback URL may only reach public addresses, unless allow-listed.

A webhook makes the server send a request to an address a client chose, so
without a guard any tenant could make Conveyor probe its own network: loopback
services, the database, the cloud metadata endpoint (169.254.169.254, which
hands out credentials). The API checks a URL when a job is submitted; the
dispatcher checks it again right before every attempt and then connects to the
address it vetted, not to a fresh lookup, so DNS rebinding (a name that turns
private after the first check) gains nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "AllowList",
    "Resolver",
    "UnresolvableHostError",
    "UnsafeCallbackURLError",
    "VettedTarget",
    "blocked_reason",
    "resolve_callback_url",
    "validate_callback_url",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: ``socket.getaddrinfo``-compatible: (host, port, type=...) -> [(family, type, proto, name, addr)].
Resolver = Callable[..., list[tuple[Any, ...]]]

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
# Checked in order; the first match names the reason. Anything else that Python does not
# consider globally routable is refused as "not globally routable".
_BLOCKED: tuple[tuple[IPNetwork, str], ...] = (
    (_V4("169.254.169.254/32"), "the cloud metadata address"),
    (_V6("fd00:ec2::254/128"), "the cloud metadata address"),
    (_V4("0.0.0.0/8"), "an unspecified address"),
    (_V4("127.0.0.0/8"), "a loopback address"),
    (_V4("10.0.0.0/8"), "a private address"),
    (_V4("172.16.0.0/12"), "a private address"),
    (_V4("192.168.0.0/16"), "a private address"),
    (_V4("100.64.0.0/10"), "a carrier-grade NAT address"),
    (_V4("169.254.0.0/16"), "a link-local address"),
    (_V4("224.0.0.0/4"), "a multicast address"),
    (_V4("240.0.0.0/4"), "a reserved address"),
    (_V6("::/128"), "an unspecified address"),
    (_V6("::1/128"), "a loopback address"),
    (_V6("fc00::/7"), "a private address"),
    (_V6("fe80::/10"), "a link-local address"),
    (_V6("ff00::/8"), "a multicast address"),
)
_NAT64 = _V6("64:ff9b::/96")


class UnsafeCallbackURLError(ValueError):
    """The URL is malformed or reaches an address the guard refuses; retrying will not help."""


class UnresolvableHostError(ValueError):
    """The callback host does not resolve (now); this may be temporary."""


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address tunnels to (mapped, 6to4, Teredo, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def blocked_reason(address: IPAddress) -> str | None:
    """Why a callback may not reach this address, or None if it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        address = address if address.scope_id is None else ipaddress.IPv6Address(int(address))
        inner = _embedded_v4(address)
        if inner is not None:
            reason = blocked_reason(inner)
            return None if reason is None else f"{reason} (inside IPv6 {address})"
    for network, reason in _BLOCKED:
        if address in network:
            return reason
    if not address.is_global:
        return "not a globally routable address"
    return None


class AllowList:
    """Host names, IPs and CIDRs the operator exempts from the guard (``127.0.0.1``,
    ``10.0.0.0/8``, ``hooks.internal``). A listed host name admits every address it
    resolves to; a listed IP or network admits just those addresses."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                if "/" in entry or not _HOST_CHARS.issuperset(entry.lower()):
                    raise ValueError(
                        f"webhook allow-list entry {entry!r} is neither a host name, an IP "
                        "address nor a CIDR"
                    ) from None
                hosts.add(_normal_host(entry))
        self.hosts: frozenset[str] = frozenset(hosts)
        self.networks: tuple[IPNetwork, ...] = tuple(networks)

    def admits_host(self, host: str) -> bool:
        return _normal_host(host) in self.hosts

    def admits_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)

    def __bool__(self) -> bool:
        return bool(self.hosts or self.networks)


_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-_")


def _normal_host(host: str) -> str:
    return host.lower().rstrip(".")


@dataclass(frozen=True, slots=True)
class VettedTarget:
    """A callback URL that passed the guard, with the addresses it may connect to."""

    url: str
    scheme: str
    host: str  # ASCII (IDNA) host name or IP literal, without brackets
    port: int
    path: str  # path and query, as sent
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    def url_for(self, address: str) -> str:
        """The URL pinned to one vetted address (the Host header and TLS SNI keep the name)."""
        host = f"[{address}]" if ":" in address else address
        return f"{self.scheme}://{host}:{self.port}{self.path}"


def _parse(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeCallbackURLError(f"callback URL {url!r} is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeCallbackURLError(f"callback URL {url!r} must use http or https")
    if not parts.hostname:
        raise UnsafeCallbackURLError(f"callback URL {url!r} has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeCallbackURLError(
            "callback URL must not carry credentials (they would be stored and logged); "
            "verify the webhook-signature header instead"
        )
    host = parts.hostname
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise UnsafeCallbackURLError(f"callback URL {url!r} has an invalid host name") from None
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return scheme, host, port or (443 if scheme == "https" else 80), path


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _resolve(host: str, port: int, resolver: Resolver) -> list[IPAddress]:
    literal = _literal(host)
    if literal is not None:
        return [literal]
    try:
        infos = resolver(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        detail = getattr(exc, "strerror", None) or str(exc)
        raise UnresolvableHostError(f"cannot resolve callback host {host!r}: {detail}") from None
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnresolvableHostError(f"callback host {host!r} resolves to no address")
    return addresses


def resolve_callback_url(
    url: str,
    allowed: Sequence[str] | AllowList = (),
    *,
    resolver: Resolver = socket.getaddrinfo,
) -> VettedTarget:
    """Check a callback URL and return the addresses it may reach.

    Raises UnsafeCallbackURLError for a URL that is not http(s), has no host, or
    resolves to any address that is not public (one bad address poisons the
    name: a client could not choose which one we use). UnresolvableHostError
    when the name does not resolve.
    """
    scheme, host, port, path = _parse(url)
    allow = allowed if isinstance(allowed, AllowList) else AllowList(allowed)
    addresses = _resolve(host, port, resolver)
    if not allow.admits_host(host):
        for address in addresses:
            reason = blocked_reason(address)
            if reason is not None and not allow.admits_address(address):
                shown = host if str(address) == host else f"{host} ({address})"
                raise UnsafeCallbackURLError(
                    f"callback URL {url!r} is refused: {shown} is {reason}; add the host or "
                    "address to webhook_allowed_hosts (CONVEYOR_WEBHOOK_ALLOWED_HOSTS) to allow it"
                )
    return VettedTarget(url, scheme, host, port, path, tuple(str(a) for a in addresses))


def validate_callback_url(url: str, allowed: Sequence[str] | AllowList = ()) -> None:
    """Raise ValueError (with a message fit for a 422 body) unless ``url`` is a safe callback."""
    resolve_callback_url(url, allowed)
