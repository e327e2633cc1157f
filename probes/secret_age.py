"""When each secret was last rotated: from Vault KV v2 *metadata* or a rotation ledger file.

Never reads a secret's value: Vault is asked only ``GET /v1/<mount>/metadata/<path>/<name>``
(hvac ``read_secret_metadata``; never ``read_secret_version``, which returns the data), and a
ledger is read for three fields (secret, rotated_at, by) — any other column is ignored unread.
The rotation time of a Vault secret is the ``created_time`` of its current version (when the
value in use was written), falling back to the metadata's ``updated_time``.

Ledger formats (newest entry per secret counts)::

    # YAML                                  # CSV
    rotations:                              secret,rotated_at,by
      - secret: SECRET_KEY                  SECRET_KEY,2026-11-01T02:00:00Z,alice
        rotated_at: 2026-11-01T02:00:00Z
        by: alice
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from lms_opscheck.config.model import Timeouts
from lms_opscheck.config.security import RotationLedger, VaultSource
from lms_opscheck.probes.errors import MeasurementError, NoAnswer, Rejected, Unreachable, Unreadable
from lms_opscheck.probes.hosts import Shell

MAX_LEDGER_BYTES = 4 * 1024 * 1024
READ_TIMEOUT = timedelta(seconds=30)


@dataclass(frozen=True)
class Rotation:
    secret: str
    rotated_at: datetime
    by: str  # who rotated it (ledger) or which version is current (Vault)

    def age(self, now: datetime) -> timedelta:
        return now - self.rotated_at


@dataclass(frozen=True)
class Rotations:
    source: str  # "ledger <path> on <host>" or "vault <url> <mount>/<path>"
    found: dict[str, Rotation]  # secret -> newest rotation
    entries: int  # entries read (ledger) or secrets asked (Vault)
    measured_at: datetime


# -- ledger --------------------------------------------------------------------------------------


def read_ledger(shell: Shell, ledger: RotationLedger, now: datetime | None = None) -> Rotations:
    where = f"ledger {ledger.path} on {shell.label}"
    text = _read_text(shell, ledger.path, where)
    rows = _csv_rows(text, where) if ledger.path.endswith(".csv") else _yaml_rows(text, where)
    found: dict[str, Rotation] = {}
    for index, row in enumerate(rows, start=1):
        name = str(row.get("secret") or "").strip()
        if not name:
            raise Unreadable(where, f"entry {index} has no secret name")
        rotation = Rotation(
            name, _moment(row.get("rotated_at"), where, index), str(row.get("by") or "?")
        )
        known = found.get(name)
        if known is None or rotation.rotated_at > known.rotated_at:
            found[name] = rotation
    return Rotations(where, found, len(rows), now or datetime.now(UTC))


def _read_text(shell: Shell, path: str, where: str) -> str:
    if shell.is_local:
        try:
            with Path(path).open("rb") as handle:
                data = handle.read(MAX_LEDGER_BYTES + 1)
        except OSError as exc:
            raise Unreadable(where, f"cannot read: {exc.strerror}") from None
    else:
        done = shell.run(["head", "-c", str(MAX_LEDGER_BYTES + 1), "--", path], READ_TIMEOUT)
        if done.rc != 0:
            raise Unreadable(where, f"cannot read: {done.error_text}")
        data = done.stdout
    if len(data) > MAX_LEDGER_BYTES:
        raise Unreadable(where, f"larger than {MAX_LEDGER_BYTES} bytes: not a rotation ledger")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Unreadable(where, "not UTF-8 text") from None


def _yaml_rows(text: str, where: str) -> list[dict[str, Any]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise Unreadable(where, f"malformed YAML{line}") from None
    rows = data.get("rotations") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise Unreadable(where, "expected a 'rotations:' list of {secret, rotated_at, by}")
    return rows


def _csv_rows(text: str, where: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    if not {"secret", "rotated_at"} <= set(reader.fieldnames or ()):
        raise Unreadable(where, "expected CSV columns secret,rotated_at,by")
    return [dict(row) for row in reader]


def _moment(value: Any, where: str, index: int) -> datetime:
    """A timestamp (naive: UTC) or a day (its start, UTC); the value is never echoed."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise Unreadable(where, f"entry {index}: rotated_at is not an ISO date") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- Vault ---------------------------------------------------------------------------------------


def vault_rotations(
    vault: VaultSource, names: Iterable[str], timeouts: Timeouts, now: datetime | None = None
) -> Rotations:
    """Each secret's metadata from Vault KV v2; a secret Vault does not know is left out."""
    import hvac
    import requests

    where = f"vault {vault.url.rstrip('/')} {vault.mount}/{vault.path}"
    client = hvac.Client(
        url=vault.url,
        token=vault.token.get_secret_value(),
        namespace=vault.namespace,
        verify=str(vault.ca_file) if vault.ca_file else True,
        timeout=(timeouts.connect.total_seconds(), timeouts.request.total_seconds()),
    )
    found: dict[str, Rotation] = {}
    asked = 0
    for name in names:
        asked += 1
        path = f"{vault.path.strip('/')}/{name}"
        try:
            answer = client.secrets.kv.v2.read_secret_metadata(path=path, mount_point=vault.mount)
        except hvac.exceptions.InvalidPath:
            continue  # no such secret: the check names it as never rotated
        except (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized) as exc:
            raise Rejected(
                where, f"Vault refused the token for {path} ({_first_line(exc)})"
            ) from None
        except hvac.exceptions.VaultError as exc:
            raise MeasurementError(
                where, f"Vault answered an error for {path}: {_first_line(exc)}"
            ) from None
        except requests.exceptions.ConnectTimeout:
            raise Unreachable(where, "connect timed out") from None
        except requests.exceptions.Timeout:
            raise NoAnswer(where, "connected but no answer within the timeout") from None
        except requests.exceptions.RequestException as exc:
            raise Unreachable(where, f"cannot connect ({type(exc).__name__})") from None
        found[name] = _metadata_rotation(name, answer, where)
    return Rotations(where, found, asked, now or datetime.now(UTC))


def _metadata_rotation(name: str, answer: Any, where: str) -> Rotation:
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, dict):
        raise Unreadable(where, f"metadata of {name} has no data object")
    current = data.get("current_version")
    version = (data.get("versions") or {}).get(str(current)) or {}
    stamp = version.get("created_time") or data.get("updated_time")
    if not isinstance(stamp, str):
        raise Unreadable(where, f"metadata of {name} has no created_time or updated_time")
    try:
        moment = datetime.fromisoformat(_trim_nanoseconds(stamp))
    except ValueError:
        raise Unreadable(where, f"metadata of {name}: unreadable time {stamp[:40]!r}") from None
    return Rotation(
        name, moment if moment.tzinfo else moment.replace(tzinfo=UTC), f"version {current}"
    )


def _trim_nanoseconds(stamp: str) -> str:
    """Vault writes ``2018-03-22T02:24:06.945319214Z``: Python reads at most microseconds."""
    text = stamp.strip().replace("Z", "+00:00")
    if "." in text:
        head, _, tail = text.partition(".")
        digits = tail[: len(tail) - len(tail.lstrip("0123456789"))]
        zone = tail[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    return text


def _first_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__
