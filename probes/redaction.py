"""Known secret values and their removal from any text the suite is about to show or write."""

from __future__ import annotations

from collections.abc import Iterable

MASK = "***"
_secrets: set[str] = set()


def register(values: Iterable[str]) -> None:
    # Very short values would mask ordinary words; real secrets are longer than this.
    _secrets.update(v for v in values if len(v) >= 4)


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def known() -> frozenset[str]:
    return frozenset(_secrets)
