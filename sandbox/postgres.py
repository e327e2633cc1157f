"""A real PostgreSQL server on 127.0.0.1 from pgserver's bundled binaries (or the system's)."""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from lms_opscheck.sandbox.processes import port_accepts, wait_until

#: PostgreSQL refuses to run as root; as root we run it as this unprivileged account.
SERVICE_UID = 65534  # nobody


def bundled_bin_dir() -> Path | None:
    # find_spec, not import: importing pgserver has side effects (platformdirs warnings).
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return candidate if (candidate / "postgres").exists() else None


def system_bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return Path(found[-1]).parent if found else None


def bin_dir(cache: Path) -> Path:
    """Where the server binaries are, copied where an unprivileged user may run them if needed.

    pgserver's own answer to "root cannot run postgres" is to chmod every parent of site-packages
    (/root included) world-readable; copying its 34 MB tree once into the cache leaves /root alone.
    """
    source = bundled_bin_dir() or system_bin_dir()
    if source is None:
        raise RuntimeError(
            "no PostgreSQL binaries: pip install pgserver (the sandbox extra), "
            "or install Debian's postgresql"
        )
    if os.geteuid() != 0 or _world_executable(source / "postgres"):
        return source
    # The bundle finds its libraries through RPATH $ORIGIN/../../../pgserver.libs: keep that shape.
    install = source.parent
    copy = cache / "pg" / install.parent.name / install.name
    if not (copy / "bin" / "postgres").exists():
        # Build aside and rename: concurrent self-test workers may race to fill the cache.
        staging = Path(tempfile.mkdtemp(dir=cache.parent, prefix=".pg-"))
        shutil.copytree(install, staging / install.parent.name / install.name, symlinks=True)
        libs = install.parent.parent / "pgserver.libs"
        if libs.is_dir():
            shutil.copytree(libs, staging / libs.name, symlinks=True)
        _open_up(staging)
        cache.mkdir(parents=True, exist_ok=True)
        _open_up_dir(cache)
        try:
            staging.rename(cache / "pg")
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)  # another process won the race
    return copy / "bin"


def _world_executable(path: Path) -> bool:
    probe = path
    while probe != probe.parent:
        if not os.stat(probe).st_mode & 0o001:
            return False
        probe = probe.parent
    return True


def _open_up_dir(path: Path) -> None:
    """Let the service user traverse to ``path`` (pytest's tmp_path parents are 0700)."""
    for folder in (path, *path.parents):
        if os.stat(folder).st_mode & 0o001:
            continue
        os.chmod(folder, os.stat(folder).st_mode | 0o001)


def _open_up(path: Path) -> None:
    for root, dirs, files in os.walk(path):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)
        for name in files:
            full = os.path.join(root, name)
            if not os.path.islink(full):
                os.chmod(
                    full, os.stat(full).st_mode | 0o444 | ((os.stat(full).st_mode & 0o100) >> 6)
                )
    os.chmod(path, 0o755)


@dataclass
class PostgresServer:
    data_dir: Path
    port: int
    superuser_password: str
    bin: Path

    @property
    def _as_service_user(self) -> dict[str, int]:
        return {"user": SERVICE_UID, "group": SERVICE_UID} if os.geteuid() == 0 else {}

    def tool(self, name: str) -> str:
        return str(self.bin / name)

    def _run(self, argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # type: ignore[call-overload, no-any-return]
            argv,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
            **self._as_service_user,
            **kwargs,
        )

    def initdb(self, template: Path | None = None) -> None:
        """Create the cluster, copying a cached template cluster when one exists (3x faster).

        A copied cluster still has the template's superuser password until ``start`` changes it.
        """
        if os.geteuid() == 0:
            self.data_dir.parent.mkdir(parents=True, exist_ok=True)
            _open_up_dir(self.data_dir.parent)
        if template is not None and (template / "data" / "PG_VERSION").exists():
            shutil.copytree(template / "data", self.data_dir, symlinks=True)
            self._initial_password = (template / "superuser.pw").read_text()
        else:
            self.data_dir.mkdir(parents=True)
            self._chown(self.data_dir)
            pwfile = self.data_dir.parent / f".{self.data_dir.name}.pw"
            pwfile.write_text(self.superuser_password)
            self._chown(pwfile)
            try:
                self._run(
                    [
                        self.tool("initdb"),
                        "-D",
                        str(self.data_dir),
                        "-U",
                        "postgres",
                        "--auth=scram-sha-256",
                        f"--pwfile={pwfile}",
                        "-E",
                        "UTF8",
                        "--locale=C",
                        "--no-sync",
                        "--no-instructions",
                    ]
                )
            finally:
                pwfile.unlink()
            if template is not None:
                self._store_template(template)
        self._chown(self.data_dir, recursive=True)
        os.chmod(self.data_dir, 0o700)

    def _store_template(self, template: Path) -> None:
        # Built aside and renamed whole: concurrent workers may race to store a template.
        template.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=template.parent, prefix=".tpl-"))
        shutil.copytree(self.data_dir, staging / "data", symlinks=True)
        (staging / "superuser.pw").write_text(self.superuser_password)
        with contextlib.suppress(OSError):
            staging.rename(template)
        shutil.rmtree(staging, ignore_errors=True)

    def start(self, timeout: float = 30.0) -> None:
        log = self.data_dir.parent / f"{self.data_dir.name}.log"
        log.touch()
        self._chown(log)
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
        )
        self._run(
            [
                self.tool("pg_ctl"),
                "start",
                "-D",
                str(self.data_dir),
                "-o",
                options,
                "-l",
                str(log),
                "-w",
                "-t",
                str(int(timeout)),
            ],
            start_new_session=True,
        )
        wait_until(lambda: port_accepts(self.port), timeout, f"PostgreSQL on port {self.port}", log)
        initial = getattr(self, "_initial_password", None)
        if initial and initial != self.superuser_password:
            with self.connect(password=initial) as conn:
                conn.execute(
                    sql.SQL("ALTER ROLE postgres PASSWORD {}").format(self.superuser_password)
                )
            self._initial_password = ""

    def connect(
        self, dbname: str = "postgres", password: str | None = None
    ) -> psycopg.Connection[tuple[object, ...]]:
        """A superuser session, for setting the sandbox up (never used by checks)."""
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            dbname=dbname,
            password=password or self.superuser_password,
            connect_timeout=5,
            autocommit=True,
        )

    def stop(self) -> None:
        if not (self.data_dir / "postmaster.pid").exists():
            return
        subprocess.run(
            [self.tool("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w"],
            capture_output=True,
            timeout=60,
            check=False,
            **self._as_service_user,  # type: ignore[call-overload]
        )

    @property
    def pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _chown(self, path: Path, recursive: bool = False) -> None:
        if os.geteuid() != 0:
            return
        os.chown(path, SERVICE_UID, SERVICE_UID)
        if recursive:
            for root, dirs, files in os.walk(path):
                for name in dirs + files:
                    os.lchown(os.path.join(root, name), SERVICE_UID, SERVICE_UID)
