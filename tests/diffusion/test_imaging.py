from __future__ import annotations

import pytest

pytest.importorskip("PIL")

from PIL import Image, PngImagePlugin

from conveyor.diffusion import contact_sheet, encode_png


def _gradient(size: int = 16, mode: str = "L") -> Image.Image:
    img = Image.new("L", (size, size))
    img.putdata([(x * 7 + y * 3) % 256 for y in range(size) for x in range(size)])
    return img.convert(mode)


def test_png_is_deterministic_and_metadata_free() -> None:
    img = _gradient()
    tagged = img.copy()
    tagged.info["comment"] = "hello"
    assert encode_png(img) == encode_png(img.copy()) == encode_png(tagged)
    data = encode_png(img)
    assert data.startswith(b"\x89PNG")
    assert b"tEXt" not in data and b"tIME" not in data
    info = PngImagePlugin.PngInfo()
    info.add_text("k", "v")
    assert encode_png(img) == encode_png(Image.open(_roundtrip(img, info)))


def _roundtrip(img: Image.Image, info: PngImagePlugin.PngInfo):
    import io

    buffer = io.BytesIO()
    img.save(buffer, format="PNG", pnginfo=info)
    buffer.seek(0)
    return buffer


def test_png_decodes_to_same_pixels() -> None:
    import io

    img = _gradient(mode="RGB")
    decoded = Image.open(io.BytesIO(encode_png(img)))
    assert (decoded.mode, decoded.tobytes()) == (img.mode, img.tobytes())


def test_contact_sheet_layout() -> None:
    images = [_gradient(16) for _ in range(5)]
    sheet = contact_sheet(images, padding=2)
    assert sheet.mode == "L"
    assert sheet.size == (3 * 16 + 4 * 2, 2 * 16 + 3 * 2)  # 3 columns, 2 rows
    assert sheet.crop((2, 2, 18, 18)).tobytes() == images[0].tobytes()
    wide = contact_sheet(images, columns=5, padding=0)
    assert wide.size == (80, 16)


def test_contact_sheet_mixed_modes_is_rgb() -> None:
    sheet = contact_sheet([_gradient(8), _gradient(12, "RGB")], background=(0, 0, 0))
    assert sheet.mode == "RGB"
    assert sheet.size == (2 * 12 + 3 * 2, 12 + 2 * 2)


def test_contact_sheet_needs_images() -> None:
    with pytest.raises(ValueError):
        contact_sheet([])
