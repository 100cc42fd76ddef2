"""A throw-away PostgreSQL server for tests and benchmarks: Debian's package, 127.0.0.1 only.

    with temporary_postgres() as url:      # postgresql://grader@127.0.0.1:PORT/gradebook
        ...

The server lives in a temporary data directory, trusts local connections, listens on a
free port of 127.0.0.1 and is stopped (and its files removed) on exit. PostgreSQL
refuses to run as root, so under root it runs as the `postgres` user (or `nobody`).
Install it with `apt-get install postgresql` (.ci/run does).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile


def binaries() -> str | None:
    """The newest /usr/lib/postgresql/<version>/bin that has initdb, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return os.path.dirname(found[-1]) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_user() -> tuple[list[str], int | None, int | None]:
    if os.geteuid() != 0:
        return [], None, None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return ["runuser", "-u", name, "--"], entry.pw_uid, entry.pw_gid
    raise RuntimeError("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL")


@contextlib.contextmanager
def temporary_postgres(database: str = "gradebook", user: str = "grader"):
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql")
    prefix, uid, gid = _as_user()
    tmp = tempfile.mkdtemp(prefix="pg-")
    data, sockets, port = os.path.join(tmp, "data"), os.path.join(tmp, "run"), _free_port()
    os.makedirs(sockets)
    if uid is not None:
        os.chmod(tmp, 0o755)
        os.chown(sockets, uid, gid)
        os.chown(tmp, uid, gid)

    def run(*args):
        subprocess.run(prefix + list(args), check=True, capture_output=True, text=True)

    try:
        run(f"{bin_dir}/initdb", "-D", data, "-U", user, "--auth=trust", "--no-sync", "-E", "UTF8")
        # fsync off: a test database that dies with its test need not survive a power cut
        run(f"{bin_dir}/pg_ctl", "-D", data, "-w", "-l", os.path.join(tmp, "log"), "start", "-o",
            f"-h 127.0.0.1 -p {port} -k {sockets} -c fsync=off -c max_connections=200")
        try:
            run(f"{bin_dir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", user, database)
            yield f"postgresql://{user}@127.0.0.1:{port}/{database}"
        finally:
            run(f"{bin_dir}/pg_ctl", "-D", data, "-w", "-m", "fast", "stop")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def create_database(url: str, name: str) -> str:
    """A new, empty database on the server at `url`; returns its URL."""
    import psycopg

    base, _, _ = url.rpartition("/")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"
