"""The Celery ping on a real Redis broker and worker: the LMS's own naming, paced broadcasts,
what it writes (and leaves: nothing), and broker passwords that break URLs."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis

from lms_opscheck.probes import celery_ping
from lms_opscheck.probes.redaction import encodings, fragments
from lms_opscheck.sandbox.processes import free_port, stop
from lms_opscheck.sandbox.redis_server import start_redis
from tests.support.celery_worker import celery_worker
from tests.support.redis_monitor import monitored
from tests.support.runner import SuiteRun, run_suite, write_env

#: Characters that cut a URL (and a percent escape): a password with them must still work.
CANARY = "Canary/Broker#Pass?%41word-5e1f"
WRONG = "Wrong/Broker#Pass?%41word-77c2"
WRITES = ("publish", "sadd", "srem", "del", "lpush", "zadd", "evalsha", "eval", "set", "expire")


@dataclass(frozen=True)
class Broker:
    port: int
    client: redis.Redis
    password: str | None

    def celery(self, password: str | None = None, **extra: Any) -> dict[str, Any]:
        broker: dict[str, Any] = {"host": "127.0.0.1", "port": self.port, "db": 1}
        if password:
            broker["password"] = password
        return {"name": "selftest", "targets": {"celery": {"broker": broker, **extra}}}

    def writes(self) -> dict[str, int]:
        stats = self.client.info("commandstats")
        return {name: int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in WRITES}

    def keys(self) -> set[bytes]:
        return {key for db in (0, 1) for key in self._db(db).keys("*")}

    def _db(self, db: int) -> redis.Redis:
        return redis.Redis(port=self.port, db=db, password=self.password)


@contextmanager
def _broker(root: Path, password: str | None) -> Iterator[Broker]:
    port = free_port()
    pid = start_redis(root / "redis", port, password=password)
    client = redis.Redis(port=port, db=1, password=password, socket_timeout=5)
    url = f"redis://{':' + quote(password, safe='') + '@' if password else ''}127.0.0.1:{port}/1"
    try:
        with celery_worker(root, url, client):  # named celery@<host>, as the LMS runs them
            yield Broker(port, client, password)
    finally:
        client.close()
        stop(pid)


@pytest.fixture
def open_broker(tmp_path: Path) -> Iterator[Broker]:
    """Redis without a password, as the LMS's compose files run it, with one default worker."""
    with _broker(tmp_path, None) as broker:
        yield broker


def daily(tmp_path: Path, config: dict[str, Any], env: dict[str, str] | None = None) -> SuiteRun:
    tmp_path.mkdir(exist_ok=True)
    env_file = write_env(tmp_path / "env.yaml", config)
    return run_suite("-m", "daily", f"--env={env_file}", out=tmp_path / "out", env=env)


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in WRITES if after[name] != before[name]}


def test_lms_named_worker_counts_with_one_broadcast_and_no_leftover_keys(
    tmp_path: Path, open_broker: Broker
) -> None:
    keys, writes = open_broker.keys(), open_broker.writes()
    with monitored(open_broker.port) as commands:
        run = daily(tmp_path, open_broker.celery())
    result = run.only("test_enough_celery_workers")
    assert result.outcome == "passed", run.output
    assert f"celery@{socket.gethostname()}" in result.properties["evidence.answered"]
    assert delta(open_broker.writes(), writes)["publish"] == 1  # one broadcast for one check
    # The check's own connection wrote one binding, one ping, and removed them: nothing else.
    ours = [c for c in commands.values() if any(x.startswith("PUBLISH /1.celery") for x in c)]
    assert len(ours) == 1, dict(commands)
    assert [line.split()[0] for line in ours[0]] == [
        "HELLO", "SELECT", "PING", "SADD", "PUBLISH", "BRPOP", "LRANGE", "LRANGE", "LRANGE",
        "LRANGE", "MULTI", "SREM", "DEL", "EXEC",
    ]  # fmt: skip
    assert open_broker.keys() == keys


def test_workers_answering_together_are_all_listed_though_one_was_enough(
    tmp_path: Path, open_broker: Broker
) -> None:
    # Once enough answered, the ping waits a little and reads what else came (without blocking).
    url = f"redis://127.0.0.1:{open_broker.port}/1"
    second = f"lms-worker-2@{socket.gethostname()}"
    (tmp_path / "second").mkdir()
    with celery_worker(tmp_path / "second", url, open_broker.client, second, listening=2):
        run = daily(tmp_path / "run", open_broker.celery())
    result = run.only("test_enough_celery_workers")
    assert result.outcome == "passed", run.output
    answered = result.properties["evidence.answered"]
    assert f"celery@{socket.gethostname()}" in answered and second in answered, answered


def test_prefix_matching_no_worker_is_a_handful_of_broadcasts_naming_who_answered(
    tmp_path: Path, open_broker: Broker
) -> None:
    keys, writes = open_broker.keys(), open_broker.writes()
    run = daily(tmp_path, open_broker.celery(worker_prefix="lms-worker@"))
    result = run.only("test_enough_celery_workers")
    assert result.outcome == "failed"
    assert "0 Celery worker(s) named lms-worker@* answered ping on " in result.message
    assert f"answered: celery@{socket.gethostname()}" in result.message
    assert "at least 1 expected" in result.message
    published = delta(open_broker.writes(), writes)["publish"]
    assert 2 <= published <= len(celery_ping.WINDOWS), published  # paced, then given up
    assert open_broker.keys() == keys


def test_broker_password_with_url_characters_works_and_a_wrong_one_is_rejected_unprinted(
    tmp_path: Path,
) -> None:
    with _broker(tmp_path / "stack", CANARY) as broker:
        config = broker.celery("${CANARY_BROKER}")
        good = daily(tmp_path / "good", config, env={"CANARY_BROKER": CANARY})
        assert good.only("test_enough_celery_workers").outcome == "passed", good.output
        bad = daily(tmp_path / "bad", config, env={"CANARY_BROKER": WRONG})
    result = bad.only("test_enough_celery_workers")
    assert result.outcome == "error"
    assert "could not measure (rejected)" in result.message
    assert "credentials rejected" in result.message
    forms = {form for secret in (CANARY, WRONG) for form in encodings(secret)}
    forms |= {form for piece in fragments(WRONG) for form in encodings(piece)}
    for run in (good, bad):
        assert not any(form in run.output for form in forms), run.output
        for path in run.run_dir.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert not any(form.encode() in data for form in forms), path


def test_under_xdist_the_broker_is_pinged_once_per_run_not_once_per_worker(
    tmp_path: Path, open_broker: Broker
) -> None:
    writes = open_broker.writes()
    config = open_broker.celery()
    # Redis checks too, so that both workers run checks needing the run's measurements.
    redis_target = {"host": "127.0.0.1", "port": open_broker.port, "auth": "network-isolated"}
    config["targets"]["redis"] = redis_target
    env_file = write_env(tmp_path / "env.yaml", config)
    run = run_suite(
        "-m",
        "daily",
        f"--env={env_file}",
        "-n",
        "2",
        "-o",
        "opscheck_xdist=honour",
        "-v",
        out=tmp_path / "out",
    )
    assert run.only("test_enough_celery_workers").outcome == "passed", run.output
    assert run.only("test_redis_answers_ping").outcome == "passed", run.output
    assert "ignored" not in run.stdout  # really distributed
    assert "[gw0]" in run.stdout and "[gw1]" in run.stdout  # both workers ran checks
    assert delta(open_broker.writes(), writes)["publish"] == 1
    assert not list(run.run_dir.glob(".measurements-*"))  # the shared outcomes are cleaned up


def test_n_is_ignored_with_its_reason_where_it_cannot_help(
    tmp_path: Path, open_broker: Broker
) -> None:
    env_file = write_env(tmp_path / "env.yaml", open_broker.celery())
    run = run_suite("-m", "daily", f"--env={env_file}", "-n", "2", out=tmp_path / "out")
    assert "lms-opscheck: -n 2 ignored: every target is measured concurrently" in run.stdout
    assert run.only("test_enough_celery_workers").outcome == "passed", run.output
