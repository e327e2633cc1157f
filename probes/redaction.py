"""Known secret values and their removal from any text the suite is about to show or write."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
_secrets: set[str] = set()


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


def register(values: Iterable[str]) -> None:
    # Very short values would mask ordinary words; config refuses secrets shorter than this.
    for value in values:
        if len(value) >= 4:
            _secrets.update(encodings(value))


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def known() -> frozenset[str]:
    return frozenset(_secrets)
