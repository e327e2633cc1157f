"""A deterministic corpus of bad environment files: mutations of the shipped environments.

``python -m tests.support.fuzz_envs DIR`` writes the corpus into DIR, loads every file with the
real ``load_environment`` in this one process and prints one JSON line per file. The test runs
it in a subprocess under an address-space limit and a timeout, so that a regression (an alias
bomb that expands again, a hang) fails the test instead of eating the machine.

Every secret variable is a canary, and every piece of text the mutations insert contains
"canary" (never in a key-name shape, which errors may print): no error message may contain it.
"""

from __future__ import annotations

import copy
import json
import random
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lms_opscheck.config import ConfigError, load_environment, yamlsafe
from lms_opscheck.config.errors import SHOWABLE_KEY
from lms_opscheck.config.loader import ENVIRONMENTS_DIR

SEED = 20261128
#: URL-hostile characters on purpose (issue 9 item 12): a prefix must not leak either.
CANARY_SECRET = "canary-S3c/r#t?%41:@x"
ENVIRON = {
    "LMS_MONITOR_DB_PASSWORD": CANARY_SECRET + "pg",
    "LMS_REDIS_PASSWORD": CANARY_SECRET + "redis",
    "LMS_DRILL_DB_PASSWORD": CANARY_SECRET + "drill",
    "SANDBOX_API_URL": "http://127.0.0.1:18000",
    "SANDBOX_PG_PORT": "15432",
    "SANDBOX_REDIS_PORT": "16379",
    "SANDBOX_BACKUP_DIR": "/tmp/opscheck-fuzz/backups",
    "SANDBOX_DRILL_LOG_DIR": "/tmp/opscheck-fuzz/drills",
    "SANDBOX_PG_BIN": "/tmp/opscheck-fuzz/bin",
    "SANDBOX_PG_PASSWORD": CANARY_SECRET + "sbpg",
    "SANDBOX_REDIS_PASSWORD": CANARY_SECRET + "sbredis",
    "SANDBOX_PG_SUPERUSER_PASSWORD": CANARY_SECRET + "sbsuper",
}
SECRET_REF = "${LMS_REDIS_PASSWORD}"
BASES = {"prod": "prod.example.yaml", "sandbox": "sandbox.yaml"}


def _stand_in(name: str) -> str:
    """A value of the right shape for a variable a base references (secrets are canaries)."""
    if name.endswith(("_PASSWORD", "_TOKEN")):
        return CANARY_SECRET + name.lower()
    if name.endswith("_PORT"):
        return "17000"
    if name.endswith("TLS_URL"):
        return "https://127.0.0.1:18443"
    if name.endswith("_URL"):
        return "http://127.0.0.1:18001"
    return f"/tmp/opscheck-fuzz/{name.lower()}"


# Every variable the bases reference is set, so a mutated base fails for its mutation only.
for _base in BASES.values():
    _text = (ENVIRONMENTS_DIR / _base).read_text(encoding="utf-8")
    for _name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", _text):
        ENVIRON.setdefault(_name, _stand_in(_name))


@dataclass(frozen=True)
class Case:
    name: str  # the file name: never contains "canary"
    family: str
    base: str  # prod | sandbox | raw
    content: bytes
    must_fail: bool


def base_text(base: str) -> str:
    return (ENVIRONMENTS_DIR / BASES[base]).read_text(encoding="utf-8")


def base_data(base: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(base_text(base))
    return data


def forbidden_values() -> set[str]:
    """The bases' own values that are not key-shaped: errors must not quote them either."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and len(value) >= 8 and not SHOWABLE_KEY.fullmatch(value):
            found.add(value)

    for base in BASES:
        walk(base_data(base))
    return found


def corpus(seed: int = SEED) -> list[Case]:
    rng = random.Random(seed)
    cases: list[tuple[str, str, bytes | str, bool]] = []
    for family, generate in FAMILIES.items():
        for base, content, must_fail in generate(rng):
            cases.append((family, base, content, must_fail))
    return [
        Case(
            f"{number:03d}-{family}.yaml",
            family,
            base,
            content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content,
            must_fail,
        )
        for number, (family, base, content, must_fail) in enumerate(cases)
    ]


# -- mutations ------------------------------------------------------------------------------

Generated = Iterator[tuple[str, bytes | str, bool]]


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    result = copy.deepcopy(data)
    node: Any = result
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return result


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if path:
        yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


WRONG_VALUES: list[Any] = [
    True,
    False,
    None,
    0,
    -1,
    1.5,
    10**30,
    float("nan"),
    float("inf"),
    "canary-text-value",
    "",
    [1, "canary-in-list"],
    {"canary key": 1},
    {"nested": {"deeper": "canary-deep"}},
    "canary\nmulti-line",
]


def type_swaps(rng: random.Random) -> Generated:
    for base in BASES:
        data = base_data(base)
        paths = list(_paths(data))
        for _ in range(60):
            path = rng.choice(paths)
            yield base, _dump(_set(data, path, rng.choice(WRONG_VALUES))), False


def _with(base: str, path: tuple[Any, ...], value: Any) -> str:
    return _dump(_set(base_data(base), path, value))


def ports(rng: random.Random) -> Generated:
    del rng
    for value in (True, False, 5432.5, "5432x", -1, 0, 70000, "true", [5432], "５４３２", 10**400):
        yield "prod", _with("prod", ("targets", "postgres", "port"), value), True
        yield "prod", _with("prod", ("targets", "celery", "broker", "port"), value), True
    for key in ("backup_size_window", "drill_min_tables", "backup_min_ratio"):
        yield "prod", _with("prod", ("policy", key), True), True


def _bomb_levels(levels: int, width: int) -> str:
    lines = ["name: bomb", 'description: "see below"', f"b0: &b0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        lines.append(f"b{level}: &b{level} [{', '.join([f'*b{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def alias_bombs(rng: random.Random) -> Generated:
    del rng
    yield "raw", _bomb_levels(9, 9), True  # billion laughs
    yield "raw", _bomb_levels(40, 2), True  # doubling: few aliases, 2^40 values
    yield "raw", _bomb_levels(6, 15), True
    wide = "name: wide\nbig: &big [" + ", ".join(["x"] * 2000) + "]\n"
    yield "raw", wide + "".join(f"c{i}: *big\n" for i in range(60)), True
    merge = ["name: merge", "m0: &m0 {a0: 1, a1: 2}"]
    merge += [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: {i}}}" for i in range(1, 30)]
    yield "raw", "\n".join(merge) + "\n", True
    text = base_text("prod").replace(
        "description: LMS production (eu-west)", "description: " + "[*b8, *b8]"
    )
    yield "prod", _bomb_levels(9, 9).replace("name: bomb\n", "") + text, True
    yield (
        "raw",
        "name: many\n"
        + "".join(f"a{i}: &a{i} x\n" for i in range(1100))
        + ("refs: [" + ", ".join(f"*a{i}" for i in range(1100)) + "]\n"),
        True,
    )


def recursion(rng: random.Random) -> Generated:
    del rng
    for text in (
        "name: r\nloop: &a [*a]\n",
        "name: r\nloop: &a {self: *a}\n",
        "name: r\nloop: &a [&b [*a, *b]]\n",
        "name: r\nloop: &a {<<: *a}\n",
        "name: r\ntargets: &t {redis: {host: h, port: 1}, celery: {broker: *t}}\n",
    ):
        yield "raw", text, True


def duplicates(rng: random.Random) -> Generated:
    del rng
    prod = base_text("prod")
    yield "prod", prod + "\nstrict: false\n", True
    yield "prod", prod.replace("    port: 5432\n", "    port: 5432\n    port: 6543\n", 1), True
    yield "prod", prod.replace("production: true", "production: true\nproduction: yes"), True
    yield "prod", prod + "\ntimeouts: {connect: 1s}\n", True
    yield "raw", "name: d\nhosts:\n  db-1: {uri: 'local://'}\n  db-1: {uri: 'ssh://h'}\n", True
    yield "raw", "name: d\n1: a\n1: b\n", True
    yield "raw", "name: d\nwaivers:\n  - {control: HLT-01, control: HLT-02}\n", True


def huge_numbers(rng: random.Random) -> Generated:
    del rng
    for path, value in (
        (("policy", "rpo"), "99999999999999d"),
        (("policy", "rpo"), 1e308),
        (("policy", "rpo"), float("inf")),
        (("policy", "rpo"), -float("inf")),
        (("policy", "rpo"), "NINES"),
        (("timeouts", "request"), "36500d"),
        (("timeouts", "request"), "100y"),
        (("timeouts", "deadline"), "7h"),
        (("timeouts", "connect"), "6m"),
        (("restore_drill", "row_count_tolerance"), 1e400),
        (("policy", "backup_min_bytes"), -(10**40)),
    ):
        # 5000 digits: more than int() converts (safe_dump could not even write it).
        yield "prod", _with("prod", path, value).replace("NINES", "9" * 5000), True
    yield "prod", _with("prod", ("policy", "backup_min_bytes"), 10**40), False  # a big int is fine


def control_characters(rng: random.Random) -> Generated:
    del rng
    yield "raw", 'name: "a\\0b"\n', True
    yield "prod", _with("prod", ("description",), "canary\x00nul"), True
    yield "prod", _with("prod", ("artifacts", "backups", "dir"), "/srv/canary\x00"), True
    yield "prod", _with("prod", ("hosts", "db-1", "identity_file"), "/etc/\x1bcanary"), True
    yield "raw", b"name: x\ndescription: canary\x00raw\n", True
    yield "raw", 'name: x\n"key\\0canary": 1\n', True
    yield "raw", 'name: x\ndescription: "\\x07canary bell"\n', True


def bad_unicode(rng: random.Random) -> Generated:
    del rng
    yield "raw", b"name: x\ndescription: canary \xff\xfe bytes\n", True
    yield "raw", b"name: x\ndescription: \xc0\xaf overlong canary\n", True
    yield "raw", "name: x\n".encode("utf-16"), True
    yield "raw", 'name: x\ndescription: "\\ud800 canary surrogate"\n', True
    yield "raw", "name: x\ndescription: canary \ud800 raw surrogate\n", True
    yield "raw", "name: prod\u202e\n", True
    yield "raw", "name: x\ndescription: canary \U0001f600 emoji is fine\n", False


def bad_durations(rng: random.Random) -> Generated:
    del rng
    for value in ("soon", "10 years", "1e5s", "-5s", "", "PT5M", "100y", "5 hours", "canary", [1]):
        yield "prod", _with("prod", ("policy", "rpo"), value), True
    for value in ("0s", 0, "0ms", "0.0001s", -1):
        yield "prod", _with("prod", ("timeouts", "connect"), value), True
    yield "prod", _with("prod", ("timeouts",), {"connect": "10s", "deadline": "5s"}), True


def bad_patterns(rng: random.Random) -> Generated:
    del rng
    for pattern in (
        "(",
        "(?P<stamp>",
        "(?P<canary-x>a)",
        "[z-a]",
        "(?P<stamp>\\d+)(?P<stamp>x)",
        "no_stamp_group_canary",
        "\\",
        "*canary",
        "(?P<stamp>a){99999999999}",
        "(?P<nostamp>canary)",
    ):
        yield "prod", _with("prod", ("artifacts", "backups", "pattern"), pattern), True
        yield "prod", _with("prod", ("artifacts", "drill_logs", "pattern"), pattern), False


def garbage(rng: random.Random) -> Generated:
    for size in (1, 17, 300, 4096, 65536):
        junk = bytearray(rng.randbytes(size))
        junk[size // 2 : size // 2] = b"canary-binary"
        yield "raw", bytes(junk), True
    printable = "abc: -[]{}&*!|>'\"%@`#,?\n\t canary"
    for size in (50, 500, 5000):
        yield "raw", "".join(rng.choice(printable) for _ in range(size)), False
    yield "raw", b"\x7fELF\x02\x01\x01" + bytes(100) + b"canary", True


def deep_nesting(rng: random.Random) -> Generated:
    del rng
    yield "raw", "name: deep\ndescription: " + "[" * 10000 + "]" * 10000 + "\n", True
    yield "raw", "name: deep\ndescription: " + "{a: " * 2000 + "canary" + "}" * 2000 + "\n", True
    block = "".join("  " * (level + 1) + f"k{level}:\n" for level in range(200))
    yield "raw", "name: deep\npolicy:\n" + block, True
    yield "raw", "name: deep\n" + "- " * 500 + "canary\n", True
    yield "raw", "[" * 300000, True


def empty_and_lists(rng: random.Random) -> Generated:
    del rng
    for text in ("", "\n", "---\n", "# only a comment canary\n", "~\n", "null\n", "...\n"):
        yield "raw", text, True
    for text in ("- canary\n", "[1, 2]\n", "- name: prod\n", "canary scalar\n", "42\n"):
        yield "raw", text, True
    yield "raw", "{}\n", False
    yield "raw", "name: a\n---\nname: b\n", True


def wrong_place_secrets(rng: random.Random) -> Generated:
    del rng
    for path in (
        ("name",),
        ("targets", "postgres", "port"),
        ("timeouts", "connect"),
        ("targets", "api", "replicas", 0),
        ("hosts", "db-1", "uri"),
        ("artifacts", "backups", "pattern"),
        ("ownership", "runbook_url"),
        ("policy", "backup_min_ratio"),
        ("waivers", 0, "control"),
        ("attestations", 0, "evidence"),
        ("attestations", 0, "at"),
    ):
        yield "prod", _with("prod", path, SECRET_REF), True
    replica, uri = ("targets", "api", "replicas", 0), ("hosts", "db-1", "uri")
    yield "prod", _with("prod", replica, f"https://u:{SECRET_REF}@h"), True
    yield "prod", _with("prod", uri, f"ssh://u:{SECRET_REF}@h"), True
    yield "prod", _with("prod", ("targets", "postgres", "password"), "${LMS_UNSET_VARIABLE}"), True
    yield "prod", _with("prod", ("targets", "postgres", "password"), "${" + "A" * 500 + "}"), True


def names(rng: random.Random) -> Generated:
    del rng
    for name in ("/abs", "../..", ".", "..", "a/b", "-x", " ", "", "x" * 300, "x" * 65, 123, None):
        yield "prod", _with("prod", ("name",), name), True
    yield "prod", _with("prod", ("name",), "x" * 64), False


def foreign_files(rng: random.Random) -> Generated:
    del rng
    yield "raw", "root:$6$canary$hash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n", True
    yield "raw", "root:x:0:0:root:/root:/bin/bash\ncanary:x:1:1::/:/bin/sh\n", True
    yield "raw", "[section]\npassword = canary-ini\n", True
    yield "raw", "PASSWORD=canary-dotenv\nUSER=x\n", True
    yield "raw", '{"apiVersion": "v1", "kind": "Secret", "data": {"p": "canary-json"}}\n', True
    yield "raw", "version: '3'\nservices:\n  db:\n    environment: [PASSWORD=canary]\n", True
    yield "raw", "Host db\n  IdentityFile ~/.ssh/canary\n", True


def unknown_keys(rng: random.Random) -> Generated:
    del rng
    prod = base_data("prod")
    for key in ("canary key", "root:$6$canary:1", "k" * 500, "Ωcanary", "canary.dotted", "pasword"):
        yield "prod", _dump({**prod, key: 1}), True
        yield "prod", _dump(_set(prod, ("targets", "postgres", key), 1)), True


def tags(rng: random.Random) -> Generated:
    del rng
    for value in (
        "!!python/object/apply:os.system ['echo canary']",
        "!!binary Y2FuYXJ5",
        "!canary-custom x",
        "!!set {canary: null}",
        "!!omap [{canary: 1}]",
        "!<tag:canary.example,2026:x> y",
    ):
        yield "raw", f"name: t\ndescription: {value}\n", True


def yaml_syntax(rng: random.Random) -> Generated:
    del rng
    for text in (
        "name: x\n\tdescription: tab canary\n",
        "name: x\ntargets: {api: [\n",
        "%YAML 9.9\n---\nname: x\n",
        "name: x\ndescription: *canary_undefined\n",
        "name: x\na: &canaryanchor 1\nb: &canaryanchor 2\n",
        "name: x\ndescription: 'unterminated canary\n",
        'name: x\ndescription: "\\q canary"\n',
        "name: x\n? [canary, key]\n: 1\n",
        "name: x\n? {canary: key}\n: 1\n",
        "name: x\ndescription: >\n canary\n  - x\n: y\n",
    ):
        yield "raw", text, True


def hosts_and_owners(rng: random.Random) -> Generated:
    del rng
    for uri in ("ftp://canary", "canary", "ssh://h canary", "", "file:///etc/canary"):
        yield "prod", _with("prod", ("hosts", "db-1", "uri"), uri), True
    yield "prod", _with("prod", ("hosts",), {"canary host": {"uri": "local://"}}), True
    yield "prod", _with("prod", ("credentials",), {"api/canary": SECRET_REF}), True
    yield "prod", _with("prod", ("artifacts", "backups", "host"), "canary-missing host"), True
    yield "prod", _with("prod", ("ownership", "runbook_url"), "javascript:canary"), True
    yield "prod", _with("prod", ("ownership", "team"), "canary\nsecond line"), True
    yield "prod", _with("prod", ("ownership", "team"), ""), True


def governance(rng: random.Random) -> Generated:
    del rng
    for path, value in (
        (("waivers", 0, "control"), "canary"),
        (("waivers", 0, "control"), "GOV-01"),
        (("waivers", 0, "expires"), "2020-13-45"),
        (("waivers", 0, "expires"), "in 99999999999d"),
        (("waivers", 0, "expires"), "canary"),
        (("waivers", 0, "warn_before"), "-1d"),
        (("attestations", 0, "at"), "canary"),
        (("attestations", 0, "evidence"), "javascript:canary"),
        (("attestations", 0, "cadence"), "canary"),
        (("attestations", 0, "id"), "Canary Id"),
    ):
        text = _with("prod", path, value)
        if value == "2020-13-45":
            text = text.replace("'2020-13-45'", "2020-13-45")
        yield "prod", text, True


def size(rng: random.Random) -> Generated:
    del rng
    yield "raw", "name: big\ndescription: " + "canary " * 200_000 + "\n", True
    yield "raw", "name: big\n" + "# canary comment line\n" * 40_000, False
    yield "raw", "name: big\nexpected: [" + "x, " * 150_000 + "]\n", True


FAMILIES: dict[str, Callable[[random.Random], Generated]] = {
    "type-swap": type_swaps,
    "port": ports,
    "alias-bomb": alias_bombs,
    "recursion": recursion,
    "duplicate": duplicates,
    "huge-number": huge_numbers,
    "control-char": control_characters,
    "bad-unicode": bad_unicode,
    "bad-duration": bad_durations,
    "bad-pattern": bad_patterns,
    "garbage": garbage,
    "deep": deep_nesting,
    "empty-or-list": empty_and_lists,
    "wrong-place-secret": wrong_place_secrets,
    "name": names,
    "foreign": foreign_files,
    "unknown-key": unknown_keys,
    "tag": tags,
    "yaml-syntax": yaml_syntax,
    "host-owner": hosts_and_owners,
    "governance": governance,
    "size": size,
}


# -- running -----------------------------------------------------------------------------------


def write(cases: list[Case], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for case in cases:
        (folder / case.name).write_bytes(case.content)


def load_all(folder: Path, cases: list[Case]) -> Iterator[dict[str, Any]]:
    for case in cases:
        start = time.perf_counter()
        outcome, message = "loaded", ""
        try:
            load_environment(str(folder / case.name), environ=ENVIRON)
        except ConfigError as exc:
            outcome, message = "config_error", str(exc)
        except BaseException as exc:  # the point of the corpus: anything else is a defect
            outcome = "crash"
            message = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        seconds = time.perf_counter() - start
        yield {
            "name": case.name,
            "outcome": outcome,
            "message": message,
            "seconds": round(seconds, 4),
            **_without_libyaml(case.content),
        }


def _without_libyaml(content: bytes) -> dict[str, str]:
    """The YAML layer again with PyYAML's pure-Python parser (where libyaml is missing)."""
    if len(content) > yamlsafe.MAX_BYTES:
        return {"pure_outcome": "skipped", "pure_message": ""}
    try:
        yamlsafe.parse(content.decode("utf-8"), libyaml=False)
    except UnicodeDecodeError:
        return {"pure_outcome": "skipped", "pure_message": ""}
    except yamlsafe.YamlProblem as problem:
        return {"pure_outcome": "yaml_problem", "pure_message": problem.message}
    except BaseException as exc:
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return {"pure_outcome": "crash", "pure_message": text}
    return {"pure_outcome": "parsed", "pure_message": ""}


def main(argv: list[str]) -> int:
    folder = Path(argv[0])
    cases = corpus(int(argv[1]) if len(argv) > 1 else SEED)
    write(cases, folder)
    for result in load_all(folder, cases):
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
