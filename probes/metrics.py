"""Prometheus scrapes: does /metrics answer in the text format, with which series."""

from __future__ import annotations

from dataclasses import dataclass

from lms_opscheck.probes.http import HttpReply

#: A scrape is read up to this size; a real LMS replica exposes 100-200 kB.
MAX_SCRAPE = 2 * 1024 * 1024


@dataclass(frozen=True)
class Scrape:
    url: str
    status: int
    content_type: str
    #: Every family and sample name found (``http_requests`` and ``http_requests_total``).
    names: frozenset[str]
    #: Why the body is not Prometheus text, if it is not.
    problem: str | None
    #: The start of the body, for failure messages (the body itself is not kept).
    excerpt: str
    host: str | None = None

    def missing(self, series: list[str]) -> list[str]:
        return [name for name in series if name not in self.names]

    @property
    def sent(self) -> str:
        return f"{self.url} (Host: {self.host})" if self.host else self.url


def parse_scrape(reply: HttpReply) -> Scrape:
    """Parse ``reply`` as the Prometheus text format; keep the names, never the whole body.

    prometheus_client's parser reads ~30k lines/s: a real replica's 1,700-line scrape costs
    50 ms, 10 s for 200 replicas. Every comment line and the first sample line of each series
    are parsed (their syntax checked, family names read); the other sample lines only give
    their series name.
    """
    from prometheus_client.parser import text_string_to_metric_families  # ~40 ms import

    content_type = reply.headers.get("content-type", "")
    text = reply.body
    if len(text) >= MAX_SCRAPE:  # cut at the last whole line
        text = text[: text.rfind("\n") + 1]
    names: set[str] = set()
    problem = None
    if reply.status == 200:
        try:
            for family in text_string_to_metric_families(_one_line_per_series(text, names)):
                names.add(family.name)
        except ValueError as exc:  # the parser quotes the offending line: keep it short
            problem = f"not Prometheus text format ({' '.join(str(exc).split())[:120]})"
        if problem is None and not content_type.startswith("text/plain"):
            problem = f"content type {content_type or 'missing'}, not text/plain"
    return Scrape(
        url=reply.url,
        status=reply.status,
        content_type=content_type,
        names=frozenset(names),
        problem=problem,
        excerpt=reply.excerpt(),
        host=reply.host,
    )


def _one_line_per_series(text: str, names: set[str]) -> str:
    """Comments and each series' first sample line; every sample's series name into ``names``."""
    kept: list[str] = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            kept.append(line)
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0].strip()
        if name not in names:
            names.add(name)
            kept.append(line)
    return "\n".join(kept) + "\n"
