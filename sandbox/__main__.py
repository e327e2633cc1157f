"""lms-opscheck-sandbox: run the embedded LMS-like stack between runs, and break it on purpose.

Exit codes: 0 done (``status``: every component runs), 3 a component is not running or could not
start, 4 bad input (one line says what).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

from lms_opscheck.config.durations import parse_duration
from lms_opscheck.sandbox import faults, leases, monitoring, stack
from lms_opscheck.sandbox.state import COMPONENTS, REDIS_AUTH_CHOICES

PROG = "lms-opscheck-sandbox"
EXIT_NOT_RUNNING = 3
EXIT_USAGE = 4


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line and exit 4, as everywhere in the suite
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {PROG} --help)\n")


def _parser() -> argparse.ArgumentParser:
    # --root is accepted before or after the subcommand.
    root = _Parser(add_help=False)
    root.add_argument(
        "--root",
        type=Path,
        default=argparse.SUPPRESS,
        help=f"sandbox folder (default: $LMS_OPSCHECK_SANDBOX_DIR or {stack.DEFAULT_ROOT})",
    )
    parser = _Parser(prog=PROG, description=__doc__, parents=[root])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    up = commands.add_parser("up", parents=[root], help="start whatever is not running")
    up.add_argument(
        "--worker-name",
        metavar="NAME",
        help="Celery --hostname of the worker (e.g. lms-worker@%%h); "
        "'default': Celery's celery@<hostname>, as the LMS runs it",
    )
    up.add_argument(
        "--redis-auth",
        choices=REDIS_AUTH_CHOICES,
        help="required: Redis has a password (requirepass); none: no password, as the LMS runs it",
    )
    commands.add_parser("down", parents=[root], help="stop everything; data stays")
    commands.add_parser("status", parents=[root], help="each component; exit 0 if all run")
    commands.add_parser("env", parents=[root], help="the SANDBOX_* variables (no passwords)")
    for verb in ("stop", "start"):
        sub = commands.add_parser(verb, parents=[root], help=f"{verb} single components")
        sub.add_argument("components", nargs="+", choices=COMPONENTS, metavar="COMPONENT")
    fault = commands.add_parser("fault", parents=[root], help="fault switches (fault list)")
    switches = fault.add_subparsers(dest="switch", required=True, parser_class=_Parser)
    switches.add_parser("list", parents=[root], help="the faults in force")
    switches.add_parser("clear", parents=[root], help="every switch off, hung components resumed")
    switches.add_parser("api-500", parents=[root], help="health answers 500").add_argument(
        "value", choices=("on", "off")
    )
    switches.add_parser("api-slow", parents=[root], help="delay every API answer").add_argument(
        "value", metavar="DELAY|off", help="e.g. 300ms, 2s"
    )
    switches.add_parser(
        "ready-degraded", parents=[root], help="/api/v1/ready reports a dependency down"
    ).add_argument("value", choices=("database", "redis", "both", "off"))
    switches.add_parser(
        "version", parents=[root], help="the API reports another release (none: no version)"
    ).add_argument("value", metavar="VERSION|none|off")
    for switch, what in (
        ("login-500", "POST /api/v1/auth/login answers 500"),
        ("auth-me-open", "GET /api/v1/auth/me answers 200 without a token"),
    ):
        switches.add_parser(switch, parents=[root], help=what).add_argument(
            "value", choices=("on", "off")
        )
    hang = switches.add_parser("hang", parents=[root], help="pause a process (SIGSTOP)")
    hang.add_argument("component", choices=COMPONENTS)
    hang.add_argument("value", nargs="?", default="on", choices=("on", "off"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Not set_defaults: the parsers share the --root action, whose default must stay SUPPRESS.
    root: Path = getattr(args, "root", stack.DEFAULT_ROOT).resolve()
    try:
        return _COMMANDS[args.command](root, args)
    except ValueError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"{PROG}: {' '.join(str(exc).split()) or type(exc).__name__}", file=sys.stderr)
        return EXIT_NOT_RUNNING


def _up(root: Path, args: argparse.Namespace) -> int:
    name = args.worker_name
    state, started = stack.up(
        root, worker_name="" if name == "default" else name, redis_auth=args.redis_auth
    )
    print(f"sandbox {'started' if started else 'already running'} in {state.root}")
    return _print_status(root)


def _down(root: Path, args: argparse.Namespace) -> int:
    print("sandbox stopped" if stack.down(root) else f"no sandbox in {root}")
    return 0


def _status(root: Path, args: argparse.Namespace) -> int:
    if stack.load_state(root) is None:
        print(f"no sandbox in {root} ({PROG} up starts one)")
        return EXIT_NOT_RUNNING
    return _print_status(root)


def _env(root: Path, args: argparse.Namespace) -> int:
    state = stack.load_state(root)
    if state is None:
        print(f"no sandbox in {root} ({PROG} up starts one)")
        return EXIT_NOT_RUNNING
    for key, value in state.environ().items():
        if "PASSWORD" not in key:
            print(f"{key}={value}")
    return 0


def _stop(root: Path, args: argparse.Namespace) -> int:
    stopped = stack.stop(root, args.components)
    print(f"stopped: {', '.join(stopped) or 'nothing (not running)'}")
    if stopped:
        print(f"it stays stopped, runs included, until: {PROG} start {' '.join(stopped)}")
    return 0


def _start(root: Path, args: argparse.Namespace) -> int:
    started = stack.start(root, args.components)
    print(f"started: {', '.join(started) or 'nothing (already running)'}")
    return 0


def _fault(root: Path, args: argparse.Namespace) -> int:
    value: str = getattr(args, "value", "")
    if args.switch == "list":
        found = faults.active(root)
        print("\n".join(str(fault) for fault in found) if found else "no fault in force")
        return 0
    if args.switch == "clear":
        cleared = faults.clear(root)
        print(f"cleared: {', '.join(map(str, cleared)) or 'nothing'}")
        stopped = [fault.value for fault in faults.active(root) if fault.switch == "stop"]
        if stopped:
            print(f"still stopped: {', '.join(stopped)} ({PROG} start {' '.join(stopped)})")
        return 0
    if args.switch == "api-500":
        faults.api_500(root, value == "on")
    elif args.switch == "api-slow":
        faults.api_slow(root, None if value == "off" else _delay(value))
    elif args.switch == "ready-degraded":
        chosen = {"off": (), "both": faults.READY_DEPENDENCIES}.get(value, (value,))
        faults.ready_degraded(root, chosen or None)
    elif args.switch == "version":
        faults.version(root, None if value == "off" else value)
    elif args.switch == "login-500":
        faults.login_500(root, value == "on")
    elif args.switch == "auth-me-open":
        faults.auth_me_open(root, value == "on")
    elif args.switch == "hang":
        (faults.hang if value == "on" else faults.unhang)(root, args.component)
    print(f"{args.switch} {value}")
    return 0


def _delay(text: str) -> timedelta:
    try:
        if text[-1:].isalpha():  # a bare number would be ambiguous (the fault file holds ms)
            return parse_duration(text)
    except ValueError:
        pass
    raise ValueError(f"api-slow: {text!r} is not a delay with a unit, e.g. 300ms or 2s")


def _print_status(root: Path) -> int:
    state = stack.load_state(root)
    assert state is not None
    status = state.status()
    where = {
        "postgres": f"127.0.0.1:{state.pg_port}",
        "redis": f"127.0.0.1:{state.redis_port} (auth {state.redis_auth})",
        "api": f"http://127.0.0.1:{state.api_port}",
        "worker": state.worker_node_name,
    }
    for name in COMPONENTS:
        print(f"  {name:<9}{status[name]:<8} {where[name]}")
    owner = {"up": f"{PROG} up: stays up until down", "run": "a run: the last run out stops it"}
    if state.started_by in owner:
        print(f"  started by {owner[state.started_by]}")
    runs = leases.holders(root)
    if runs:
        print(f"  used by {len(runs)} run(s): pid {', '.join(str(run.pid) for run in runs)}")
    active = [fault for fault in faults.active(root) if fault.switch not in ("stop", "hang")]
    if active:
        print(f"  faults: {', '.join(map(str, active))} ({PROG} fault clear)")
    print(*monitoring.status_lines(root), sep="\n")
    return 0 if set(status.values()) == {"running"} else EXIT_NOT_RUNNING


_COMMANDS: dict[str, Callable[[Path, argparse.Namespace], int]] = {
    "up": _up,
    "down": _down,
    "status": _status,
    "env": _env,
    "stop": _stop,
    "start": _start,
    "fault": _fault,
}


if __name__ == "__main__":
    sys.exit(main())
