from __future__ import annotations

import pytest

from conveyor.diffusion import InvalidParamsError, parse_digit


@pytest.mark.parametrize(
    ("prompt", "digit"),
    [
        ("7", 7),
        ("a seven", 7),
        ("draw the digit seven", 7),
        ("digit 3", 3),
        ("Seven!", 7),
        ("ZERO", 0),
        ("  nine\n", 9),
        ("number 4, please", 4),
        ("draw one seven", 7),
        ("one", 1),
        ("draw one digit eight", 8),
        ("a 5.", 5),
        ("07", 7),
    ],
)
def test_parses_digit(prompt: str, digit: int) -> None:
    assert parse_digit(prompt) == digit


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("", "names no digit"),
        ("a cat", "names no digit"),
        ("seventeen", "names no digit"),
        ("12", "single digit"),
        ("3 and 4", "several digits"),
        ("two or three", "several digits"),
    ],
)
def test_rejects_bad_prompts(prompt: str, message: str) -> None:
    with pytest.raises(InvalidParamsError, match=message):
        parse_digit(prompt)


def test_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_digit("nothing here")
