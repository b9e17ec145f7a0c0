"""The SSRF guard refuses non-public destinations unless the allow-list admits them.

This machine has no DNS for public names, so public destinations are IP literals and
names are resolved through a fake resolver where a test needs one.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from conveyor.notify.ssrf import (
    AllowList,
    UnresolvableHostError,
    UnsafeCallbackURLError,
    VettedTarget,
    resolve_callback_url,
    validate_callback_url,
)

REFUSED = {
    "http://127.0.0.1/hook": "loopback",
    "http://127.8.9.10:8080/hook": "loopback",
    "http://localhost:9000/hook": "loopback",
    "http://[::1]/hook": "loopback",
    "http://10.1.2.3/hook": "private",
    "http://172.16.0.1/hook": "private",
    "http://172.31.255.254/hook": "private",
    "http://192.168.1.1/hook": "private",
    "http://[fd12:3456::1]/hook": "private",
    "http://169.254.169.254/latest/meta-data/": "metadata",
    "http://169.254.10.10/hook": "link-local",
    "http://[fe80::1]/hook": "link-local",
    "http://0.0.0.0/hook": "unspecified",
    "http://[::]/hook": "unspecified",
    "http://224.0.0.1/hook": "multicast",
    "http://[ff02::1]/hook": "multicast",
    "http://240.0.0.1/hook": "reserved",
    "http://100.64.0.1/hook": "carrier-grade NAT",
    "http://[::ffff:127.0.0.1]/hook": "loopback",
    "http://[::ffff:169.254.169.254]/hook": "metadata",
    "http://[2002:a00:1::]/hook": "private",  # 6to4 of 10.0.0.1
    "http://[64:ff9b::c0a8:101]/hook": "private",  # NAT64 of 192.168.1.1
    "http://2130706433/hook": "loopback",  # 127.0.0.1 as one decimal number
    "http://0x7f.1/hook": "loopback",
}


@pytest.mark.parametrize(("url", "reason"), sorted(REFUSED.items()))
def test_non_public_destinations_are_refused(url: str, reason: str) -> None:
    with pytest.raises(UnsafeCallbackURLError, match=reason) as info:
        validate_callback_url(url, [])
    assert "webhook_allowed_hosts" in str(info.value)
    assert isinstance(info.value, ValueError)  # the API's contract: a ValueError


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://8.8.8.8/hook", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("http:///hook", "no host"),
        ("8.8.8.8/hook", "http or https"),
        ("http://user:secret@8.8.8.8/hook", "credentials"),
        ("http://8.8.8.8:99999/hook", "not a valid URL"),
    ],
)
def test_malformed_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(UnsafeCallbackURLError, match=message):
        validate_callback_url(url, [])


def test_public_addresses_pass() -> None:
    validate_callback_url("https://8.8.8.8/hook", [])
    target = resolve_callback_url("https://[2606:4700::1111]:8443/a/b?c=d", [])
    assert target == VettedTarget(
        "https://[2606:4700::1111]:8443/a/b?c=d",
        "https",
        "2606:4700::1111",
        8443,
        "/a/b?c=d",
        ("2606:4700::1111",),
    )
    assert target.host_header == "[2606:4700::1111]:8443"


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:8123/hook", ["127.0.0.1"]),
        ("http://127.0.0.1:8123/hook", ["127.0.0.0/8"]),
        ("http://localhost:8123/hook", ["localhost"]),
        ("http://localhost:8123/hook", ["127.0.0.1"]),
        ("http://10.2.3.4/hook", ["10.0.0.0/8"]),
        ("http://[::1]/hook", ["::1"]),
        ("http://169.254.169.254/", ["169.254.169.254"]),
    ],
)
def test_allow_list_admits_hosts_addresses_and_networks(url: str, allowed: list[str]) -> None:
    validate_callback_url(url, allowed)


def test_allow_list_admits_only_what_it_names() -> None:
    with pytest.raises(UnsafeCallbackURLError):
        validate_callback_url("http://127.0.0.2/hook", ["127.0.0.1"])
    with pytest.raises(UnsafeCallbackURLError):
        validate_callback_url("http://192.168.0.1/hook", ["10.0.0.0/8", "localhost"])


def test_allow_list_rejects_garbage_entries() -> None:
    with pytest.raises(ValueError, match="neither"):
        AllowList(["10.0.0.0/33"])
    with pytest.raises(ValueError, match="neither"):
        AllowList(["http://x"])
    assert not AllowList(["", " "])


def _resolver(*addresses: str) -> Any:
    def resolve(host: str, port: int, **kwargs: Any) -> list[tuple[Any, ...]]:
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    return resolve


def test_one_private_address_among_public_ones_poisons_the_name() -> None:
    resolver = _resolver("8.8.8.8", "10.0.0.7")
    with pytest.raises(UnsafeCallbackURLError, match=r"hooks\.example \(10\.0\.0\.7\)"):
        resolve_callback_url("https://hooks.example/x", [], resolver=resolver)


def test_vetted_target_pins_the_resolved_addresses() -> None:
    target = resolve_callback_url(
        "https://hooks.example/x", [], resolver=_resolver("8.8.8.8", "8.8.4.4")
    )
    assert target.addresses == ("8.8.8.8", "8.8.4.4")
    assert target.url_for("8.8.4.4") == "https://8.8.4.4:443/x"
    assert target.host_header == "hooks.example"


def test_allow_listed_name_admits_its_private_addresses() -> None:
    target = resolve_callback_url(
        "http://hooks.internal/x", ["hooks.internal"], resolver=_resolver("10.0.0.7")
    )
    assert target.addresses == ("10.0.0.7",)


def test_unresolvable_host_is_a_clear_error() -> None:
    with pytest.raises(UnresolvableHostError, match="cannot resolve callback host"):
        validate_callback_url("https://no-such-host.invalid/hook", [])
