"""Where live previews of a generation job are stored and how clients find them.

A preview is an ephemeral, low-resolution PNG of an image still being denoised. It must be
fetchable while the task runs, so the worker writes it straight to the blob store (not with
the attempt's commit) under the job's prefix, and announces it as a ``preview`` event whose
URL the API serves (``GET /jobs/{id}/previews/{index}/{step}.png``). The URL is relative to
the API's base URL: the worker that publishes it does not know where clients reach the API.
Everything under the job's prefix goes when the job's retention ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from conveyor.workflows.cache import job_prefix

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["PREVIEW_EVENT", "PREVIEW_MAX_SIDE", "preview_key", "preview_path", "shrink"]

PREVIEW_EVENT = "preview"
#: Longest side of a preview image: enough to see the picture form, cheap to send often.
PREVIEW_MAX_SIDE = 128


def preview_key(job_id: UUID, index: int, step: int) -> str:
    """Blob key of image ``index``'s preview after ``step`` denoising steps."""
    return f"{job_prefix(job_id)}previews/{int(index)}/{int(step)}.png"


def preview_path(job_id: UUID, index: int, step: int) -> str:
    """The API path serving that preview (relative to the API's base URL)."""
    return f"/jobs/{job_id}/previews/{int(index)}/{int(step)}.png"


def shrink(image: Image.Image, max_side: int = PREVIEW_MAX_SIDE) -> Image.Image:
    """A copy no larger than ``max_side`` on its longest side (aspect ratio kept)."""
    from PIL import Image

    if max(image.size) <= max_side:
        return image
    small = image.copy()
    small.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return small
