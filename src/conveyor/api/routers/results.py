"""``GET /jobs/{id}/results/{name}``: a job's result blob, with its content type and ranges.

Served through the API (behind the same keys) in chunks read from the blob store,
so large images never sit whole in memory. One byte range per request
(``Range: bytes=a-b``, ``a-`` or ``-n``); a multi-range request gets the whole blob.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path
from fastapi.responses import Response, StreamingResponse

from conveyor.api.auth import current_tenant
from conveyor.api.deps import AppContext, get_context
from conveyor.api.errors import RequestError
from conveyor.api.schemas import ErrorResponse
from conveyor.blobs import BlobNotFoundError, BlobStore
from conveyor.workflows.client import JobClient

__all__ = ["parse_range", "router"]

router = APIRouter(tags=["results"])

_CHUNK = 1 << 20
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single satisfiable range, None for the whole blob.

    Raises RequestError 416 for a well-formed range beyond the end.
    """
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # malformed or several ranges: RFC 9110 lets us ignore Range
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last n bytes
        n = int(last)
        if n == 0:
            raise _unsatisfiable(size)
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise _unsatisfiable(size)
    return start, end


def _unsatisfiable(size: int) -> RequestError:
    return RequestError(
        416,
        ["header", "Range"],
        f"range not satisfiable: the result has {size} bytes",
        "range_not_satisfiable",
        headers={"Content-Range": f"bytes */{size}"},
    )


def _chunks(blobs: BlobStore, key: str, start: int, end: int) -> Iterator[bytes]:
    position = start
    while position <= end:
        last = min(end, position + _CHUNK - 1)
        data = blobs.get_range(key, position, last)
        if not data:
            return
        yield data
        position += len(data)


@router.get(
    "/jobs/{job_id}/results/{name}",
    summary="Download a result",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "the result's bytes, with its content type",
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
        },
        206: {
            "description": "the requested byte range",
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
        },
        401: {"model": ErrorResponse, "description": "missing or invalid API key"},
        404: {"model": ErrorResponse, "description": "no such job or result"},
        416: {"model": ErrorResponse, "description": "range beyond the end of the result"},
        422: {"model": ErrorResponse, "description": "invalid job id"},
    },
)
def download_result(
    job_id: UUID,
    name: Annotated[str, Path(max_length=255)],
    ctx: Annotated[AppContext, Depends(get_context)],
    tenant: Annotated[str, Depends(current_tenant)],
    range_header: Annotated[str | None, Header(alias="Range")] = None,
) -> Response:
    """The bytes of result ``name`` of the job (``Accept-Ranges: bytes``)."""
    job = JobClient(ctx.store, tenant=tenant).find(job_id)
    result = next((r for r in job.results if r.name == name), None)
    missing = RequestError(
        404, ["path", "name"], f"job {job_id} has no result {name!r}", "not_found"
    )
    if result is None:
        raise missing
    try:
        size = ctx.blobs.size(result.blob_key)
    except BlobNotFoundError:
        raise missing from None
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(name, safe='')}",
        "Cache-Control": "private, max-age=3600",
    }
    span = parse_range(range_header, size)
    if span is None:
        start, end, status = 0, size - 1, 200
    else:
        (start, end), status = span, 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(max(0, end - start + 1))
    if size == 0:
        return Response(b"", status_code=200, headers=headers, media_type=result.content_type)
    return StreamingResponse(
        _chunks(ctx.blobs, result.blob_key, start, end),
        status_code=status,
        headers=headers,
        media_type=result.content_type,
    )
