"""Reading a digit out of a free-text prompt for the bundled ``digits`` model.

The digits model is class-conditional, not text-conditional, so the API still accepts a
prompt (one interface for every model) and this module maps it to the class label. Parsing is
strict on purpose: a prompt naming two different digits is rejected rather than guessed,
because a silently wrong image is worse than a clear 400 error.
"""

from __future__ import annotations

import re

from conveyor.diffusion.errors import InvalidParamsError

__all__ = ["DIGIT_WORDS", "parse_digit"]

DIGIT_WORDS: dict[str, int] = {
    "zero": 0,
    "nought": 0,
    "naught": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}

# Words after which the next number is taken as *the* digit ("draw one digit seven" → 7).
_KEYWORDS = frozenset({"digit", "number", "numeral", "figure"})
_TOKEN = re.compile(r"[a-z]+|\d+")


def parse_digit(prompt: str) -> int:
    """Return the digit 0-9 that ``prompt`` asks for.

    Accepts numerals and English words in any case, with surrounding text and punctuation:
    ``"7"``, ``"a seven"``, ``"draw the digit seven"``, ``"digit 3"``, ``"Seven!"``.

    Raises:
        InvalidParamsError: (a ``ValueError``) when the prompt names no digit, a number that is
            not a single digit (``"12"``), or several different digits without saying which.
    """
    if not isinstance(prompt, str):
        raise InvalidParamsError(f"prompt must be a string, got {type(prompt).__name__}")
    tokens = _TOKEN.findall(prompt.lower())
    found: list[tuple[int, int]] = []  # (token position, digit)
    for pos, token in enumerate(tokens):
        if token.isdigit():
            if len(token.lstrip("0") or "0") > 1:
                raise InvalidParamsError(
                    f"prompt {prompt!r} names the number {token}; the digits model draws a "
                    "single digit 0-9"
                )
            found.append((pos, int(token)))
        elif token in DIGIT_WORDS:
            following = tokens[pos + 1] if pos + 1 < len(tokens) else ""
            if token == "one" and (following in DIGIT_WORDS or following.isdigit()):
                continue  # a quantifier, as in "draw one seven"
            found.append((pos, DIGIT_WORDS[token]))
    if not found:
        raise InvalidParamsError(
            f"prompt {prompt!r} names no digit; write one digit 0-9 as a numeral or an English "
            "word, e.g. '7', 'a seven' or 'digit 3'"
        )
    after_keyword = [d for pos, d in found if pos > 0 and tokens[pos - 1] in _KEYWORDS]
    candidates = set(after_keyword) or {d for _, d in found}
    if len(candidates) > 1:
        listed = ", ".join(str(d) for d in sorted(candidates))
        raise InvalidParamsError(
            f"prompt {prompt!r} names several digits ({listed}); ask for exactly one"
        )
    return candidates.pop()
