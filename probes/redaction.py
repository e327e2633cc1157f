"""Known secret values and their removal from any text the suite is about to show or write."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote

MASK = "***"
_secrets: set[str] = set()
#: Where a URL parser cuts a value that was put in a URL: a library may print any piece.
_URL_DELIMITERS = re.compile(r"[/#?@:;&=\s]")
#: Pieces shorter than this are not masked: they would mask ordinary words.
MIN_FRAGMENT = 6


def encodings(secret: str) -> set[str]:
    """The forms a secret takes in our outputs: raw, XML/HTML, JSON and URL-encoded."""
    return {
        secret,
        html.escape(secret, quote=True),
        html.escape(secret, quote=False),
        json.dumps(secret)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret),
    }


def fragments(secret: str) -> set[str]:
    """Pieces of ``secret`` a URL parser could print: before, between and after delimiters,
    and the percent-decoded value (``%41`` read as ``A``)."""
    pieces = {unquote(secret)} - {secret}
    cuts = [m.start() for m in _URL_DELIMITERS.finditer(secret)]
    for cut in cuts:
        pieces.update((secret[:cut], secret[cut + 1 :]))
    pieces.update(_URL_DELIMITERS.split(secret))
    return {piece for piece in pieces if len(piece) >= MIN_FRAGMENT}


def register(values: Iterable[str]) -> None:
    # Very short values would mask ordinary words; config refuses secrets shorter than this.
    for value in values:
        if len(value) >= 4:
            _secrets.update(encodings(value))
            for piece in fragments(value):
                _secrets.update(encodings(piece))


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def known() -> frozenset[str]:
    return frozenset(_secrets)
