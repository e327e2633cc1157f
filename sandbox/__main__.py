"""`python -m sandbox up|down|status`: keep the embedded LMS-like stack running between runs."""

from __future__ import annotations

import argparse
import sys

from lms_opscheck.sandbox import monitoring, stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "env"])
    args = parser.parse_args(argv)
    if args.command == "up":
        state, started = stack.up()
        print(f"sandbox {'started' if started else 'already running'} in {state.root}")
        _print_status(state)
        return 0
    if args.command == "down":
        print("sandbox stopped" if stack.down() else "sandbox was not running")
        return 0
    loaded = stack.load_state()
    if loaded is None:
        print("sandbox has never been started (python -m sandbox up)")
        return 3
    state = loaded
    if args.command == "env":
        for key, value in state.environ().items():
            if "PASSWORD" not in key:
                print(f"{key}={value}")
        return 0
    return 0 if _print_status(state) else 3


def _print_status(state: stack.State) -> bool:
    health = state.health()
    ports = {"postgres": state.pg_port, "redis": state.redis_port, "api": state.api_port}
    for name, alive in health.items():
        where = f" 127.0.0.1:{ports[name]}" if name in ports else ""
        print(f"  {name:<9}{'running' if alive else 'stopped'}{where}")
    print(*monitoring.status_lines(state.dir), sep="\n")
    return all(health.values())


if __name__ == "__main__":
    sys.exit(main())
