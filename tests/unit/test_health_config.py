"""Health targets: replica URLs, Host header and TLS name, Redis auth declaration, metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from lms_opscheck.config import ConfigError, load_environment
from lms_opscheck.config.model import ApiTarget
from lms_opscheck.probes.http import HttpReply
from lms_opscheck.probes.metrics import parse_scrape
from lms_opscheck.probes.redaction import fragments


def load(tmp_path: Path, text: str, **environ: str) -> object:
    path = tmp_path / "env.yaml"
    path.write_text(text)
    return load_environment(str(path), environ=environ)


@pytest.mark.parametrize(
    ("api", "expected"),
    [
        (
            "{replicas: ['https://h:8000?token=${TOKEN}']}",
            "targets.api.replicas: replica 0 has a query string or fragment; give the base URL",
        ),
        ("{replicas: ['https://h:8000/#${TOKEN}']}", "replica 0 has a query string or fragment"),
        ("{replicas: ['https://h'], host_header: 'a b'}", "targets.api.host_header: not a host"),
        ("{replicas: ['https://h'], host_header: \"x\\r\\nX-A: 1\"}", "targets.api.host_header"),
        ("{replicas: ['https://h'], tls_server_name: 'h:443'}", "tls_server_name: not a DNS"),
    ],
)
def test_bad_api_target_is_one_line_that_never_echoes_the_value(
    tmp_path: Path, api: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, f"targets:\n  api: {api}\n", TOKEN="S3cretToken")
    message = str(raised.value)
    assert expected in message and "\n" not in message
    assert "S3cretToken" not in message


def test_redis_auth_is_required_unless_declared_network_isolated(tmp_path: Path) -> None:
    env = load(tmp_path, "targets:\n  redis: {host: r}\n")
    assert env.targets.redis.auth == "required"  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match=r"targets\.redis\.auth: "):
        load(tmp_path, "targets:\n  redis: {host: r, auth: none}\n")


def test_tls_server_name_defaults_to_the_host_header_s_host() -> None:
    assert ApiTarget(replicas=["https://10.0.0.5"]).server_name is None
    named = ApiTarget(replicas=["https://10.0.0.5"], host_header="lms.example.com:443")
    assert named.server_name == "lms.example.com"
    explicit = named.model_copy(update={"tls_server_name": "api.internal"})
    assert explicit.server_name == "api.internal"


def reply(
    body: str, status: int = 200, content_type: str = "text/plain; version=0.0.4"
) -> HttpReply:
    from datetime import timedelta

    headers = {"content-type": content_type}
    return HttpReply("http://api-1/metrics", 200, timedelta(milliseconds=5), body, headers)


def test_metrics_scrape_finds_families_and_samples_and_refuses_other_formats() -> None:
    text = (
        "# TYPE http_requests_total counter\n"
        'http_requests_total{path="/a"} 1\nhttp_requests_total{path="/b"} 2\n'
        "# TYPE http_request_duration_seconds histogram\n"
        'http_request_duration_seconds_bucket{le="+Inf"} 1\n'
        "http_request_duration_seconds_count 1\nhttp_request_duration_seconds_sum 0.1\n"
    )
    scrape = parse_scrape(reply(text))
    assert scrape.problem is None
    assert scrape.missing(
        ["http_requests_total", "http_request_duration_seconds", "http_requests_in_progress"]
    ) == ["http_requests_in_progress"]
    html = parse_scrape(reply("<html><body>login</body></html>", content_type="text/html"))
    assert html.problem is not None and html.problem.startswith("not Prometheus text format")
    wrong_type = parse_scrape(reply(text, content_type="application/json"))
    assert wrong_type.problem == "content type application/json, not text/plain"


def test_every_piece_a_url_parser_could_print_is_a_fragment_to_mask() -> None:
    pieces = fragments("Prefix/Middle#Suffix?%41tail-long")
    assert {"Prefix", "Middle", "Suffix", "Prefix/Middle", "%41tail-long"} <= pieces
    assert "Prefix/Middle#Suffix?Atail-long" in pieces  # what a URL parser decodes it to
    assert not any(len(piece) < 6 for piece in pieces)
