"""One delivery attempt over HTTP: vet the URL, connect to the vetted address, POST, read a
capped response, all under one deadline.

Why each guard:

* The URL is re-checked (and resolved) here, right before sending, and the
  request goes to the IP that was checked: a name that resolves to a public
  address at submit time and to 127.0.0.1 now (DNS rebinding) cannot reach
  the server's own network. The Host header and the TLS SNI/certificate check
  keep the original name.
* Redirects are never followed: a receiver could otherwise bounce the POST to
  an internal address the guard refused.
* One deadline (``asyncio.timeout``) covers resolution, connect, upload and the
  response, because httpx's timeouts are per read and a receiver dribbling one
  byte at a time would never trip them.
* The response is read raw (no decompression) and only up to a byte cap: a
  receiver cannot make the dispatcher download gigabytes or a zip bomb.
* The client ignores proxy environment variables and keeps no idle connections,
  so each request really goes to the address checked for it.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Executor
from dataclasses import dataclass

import httpx

from conveyor.notify.retry import parse_retry_after
from conveyor.notify.ssrf import (
    AllowList,
    UnresolvableHostError,
    UnsafeCallbackURLError,
    VettedTarget,
    resolve_callback_url,
)

__all__ = ["USER_AGENT", "AttemptResult", "new_http_client", "send_webhook"]

USER_AGENT = "Conveyor-Webhooks/1"
_EXCERPT_CHARS = 200


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one attempt observed; ``retry.classify`` turns it into a verdict."""

    status_code: int | None
    error: str | None
    duration_ms: float
    retry_after: float | None = None
    retryable: bool = True  # for an error without a status code: may a retry help?
    truncated: bool = False  # the response body was longer than the cap


def new_http_client(timeout: float) -> httpx.AsyncClient:
    """The client for deliveries: no redirects, no proxies from the environment, no pooling."""
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(timeout),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
        headers={"user-agent": USER_AGENT},
    )


async def send_webhook(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allowed: AllowList,
    timeout: float,
    max_response_bytes: int,
    resolver: Executor | None = None,
) -> AttemptResult:
    """POST ``body`` to ``url`` once; never raises for network or receiver trouble.

    ``resolver`` runs the blocking DNS lookup, so that a lookup that outlives the
    deadline is abandoned rather than awaited.
    """
    started = time.perf_counter()

    def elapsed() -> float:
        return round((time.perf_counter() - started) * 1000, 3)

    try:
        async with asyncio.timeout(timeout):
            loop = asyncio.get_running_loop()
            target = await loop.run_in_executor(resolver, resolve_callback_url, url, allowed)
            status, response_headers, text, truncated = await _post(
                client, target, body, headers, max_response_bytes
            )
    except UnsafeCallbackURLError as exc:
        return AttemptResult(None, str(exc), elapsed(), retryable=False)
    except UnresolvableHostError as exc:
        return AttemptResult(None, str(exc), elapsed())
    except TimeoutError:
        return AttemptResult(None, f"timed out after {timeout:g}s", elapsed())
    except httpx.HTTPError as exc:
        return AttemptResult(None, f"{type(exc).__name__}: {exc}".rstrip(": "), elapsed())
    except (OSError, httpx.InvalidURL) as exc:
        return AttemptResult(None, f"{type(exc).__name__}: {exc}", elapsed())
    except Exception as exc:  # anything else is still this attempt's failure, logged with it
        return AttemptResult(None, f"unexpected {type(exc).__name__}: {exc}", elapsed())
    error: str | None = None
    if 300 <= status < 400:
        where = response_headers.get("location") or "?"
        error = f"HTTP {status}: redirect to {where} not followed"
    elif not 200 <= status < 300:
        error = f"HTTP {status}" + (f": {text}" if text else "")
    return AttemptResult(
        status,
        error,
        elapsed(),
        retry_after=parse_retry_after(response_headers.get("retry-after")),
        truncated=truncated,
    )


async def _post(
    client: httpx.AsyncClient,
    target: VettedTarget,
    body: bytes,
    headers: dict[str, str],
    max_bytes: int,
) -> tuple[int, httpx.Headers, str, bool]:
    """Send to the first vetted address that accepts a connection."""
    request_headers = {
        **headers,
        "host": target.host_header,
        "content-type": "application/json",
        "accept-encoding": "identity",
    }
    extensions = {}
    if target.scheme == "https" and target.host not in target.addresses:
        extensions["sni_hostname"] = target.host
    last: httpx.ConnectError | None = None
    for address in target.addresses:
        try:
            async with client.stream(
                "POST",
                target.url_for(address),
                content=body,
                headers=request_headers,
                extensions=extensions,
            ) as response:
                text, truncated = await _read_capped(response, max_bytes)
                return response.status_code, response.headers, text, truncated
        except httpx.ConnectError as exc:  # nothing was sent: the next address is safe to try
            last = exc
    assert last is not None
    raise last


async def _read_capped(response: httpx.Response, max_bytes: int) -> tuple[str, bool]:
    """Read at most ``max_bytes`` of the raw body; return an excerpt and whether it was cut."""
    received = bytearray()
    truncated = False
    async for chunk in response.aiter_raw():
        received += chunk
        if len(received) > max_bytes:
            truncated = True
            break
    excerpt = bytes(received[: min(max_bytes, 4 * _EXCERPT_CHARS)]).decode("utf-8", "replace")
    return " ".join(excerpt.split())[:_EXCERPT_CHARS], truncated
