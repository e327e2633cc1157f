"""Which release a replica runs: read from its version endpoint, a header or a /metrics label."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lms_opscheck.config.deploy import VersionSource
from lms_opscheck.probes import http
from lms_opscheck.probes.errors import Unreadable
from lms_opscheck.probes.nodata import NoData


@dataclass(frozen=True)
class DeployedVersion:
    replica: str
    version: str
    #: What was read, as on-call would repeat it: ``GET URL JSON key version``.
    source: str


def source_url(replica: str, source: VersionSource, metrics_path: str) -> str:
    return replica + (metrics_path if source.kind == "metrics" else source.path)


def read_version(replica: str, reply: http.HttpReply, source: VersionSource) -> DeployedVersion:
    """The version ``reply`` tells; NoData when the source holds none, naming what was read."""
    where = f"{reply.sent} ({source.describe()})"
    if source.kind == "header":
        value = reply.headers.get(source.header.lower(), "").strip()
        if not value:
            raise NoData(where, f"no {source.header} header in the answer ({reply.status})")
    elif reply.status != 200:
        raise NoData(where, f"answered {reply.status} {reply.excerpt()}; expected 200")
    elif source.kind == "endpoint":
        value = _dotted(reply.json(), source.key, where, reply)
    else:
        value = _label(reply.body, source.metric, source.label, where)
    if len(value) > 128 or "\n" in value:
        raise Unreadable(where, f"the version is not one short line: {value[:40]!r}…")
    return DeployedVersion(replica, value, f"{reply.url} ({source.describe()})")


def _dotted(body: Any, key: str, where: str, reply: http.HttpReply) -> str:
    value = body
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise NoData(where, f"no JSON key {key} in {reply.excerpt()}")
        value = value[part]
    if not isinstance(value, str | int | float) or isinstance(value, bool) or value == "":
        raise NoData(where, f"JSON key {key} is {value!r}, not a version")
    return str(value)


def _label(text: str, metric: str, label: str, where: str) -> str:
    from prometheus_client.parser import text_string_to_metric_families  # ~40 ms import

    lines = [line for line in text.splitlines() if line.startswith((metric + "{", metric + " "))]
    try:
        samples = [s for f in text_string_to_metric_families("\n".join(lines) + "\n")
                   for s in f.samples if s.name == metric]  # fmt: skip
    except ValueError as exc:
        raise Unreadable(where, f"{metric} is not Prometheus text ({str(exc)[:80]})") from None
    values = sorted({s.labels[label] for s in samples if s.labels.get(label)})
    if not values:
        raise NoData(where, f"no {metric} series with a {label} label in the scrape")
    if len(values) > 1:
        raise Unreadable(where, f"{metric} reports several versions: {', '.join(values)}")
    return values[0]
