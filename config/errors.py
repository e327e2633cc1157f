"""The one exception of configuration loading, and the rule for showing file text in it."""

from __future__ import annotations

import re

#: A key from the file is printed only when it looks like a key name. Anything else (a line of
#: /etc/shadow read as a key, binary garbage, a secret pasted in the wrong place) is described
#: by its position instead: an error message never echoes content of the file.
SHOWABLE_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,40}")


class ConfigError(Exception):
    """A configuration problem, worded as one line that names the file, the key and the problem."""


def shown_key(key: object) -> str | None:
    """``key`` as text when it is safe to print (a name or a list index), else ``None``."""
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    text = str(key)
    return text if SHOWABLE_KEY.fullmatch(text) else None


def shown_path(path: tuple[object, ...]) -> str:
    """A dotted key path with every part that is not a key name replaced by ``?``."""
    return ".".join(shown_key(part) or "?" for part in path)


#: Quoted text in a library's message is file content unless it is a single character (a
#: delimiter, an escape), a token name such as '<scalar>', or date-like digits.
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")
_HARMLESS = re.compile(r".|\\.|\\x[0-9a-f]{2}|<[a-z ]+>|[0-9:. +TZtz-]+")


def hide_quoted_text(message: str) -> str:
    """``message`` on one line, with quoted file content replaced by ``(text not shown)``."""
    return _QUOTED.sub(_quote_if_harmless, " ".join(message.split()))


def _quote_if_harmless(match: re.Match[str]) -> str:
    content = match[1] if match[1] is not None else match[2]
    return match[0] if _HARMLESS.fullmatch(content) else "(text not shown)"
