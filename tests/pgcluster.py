"""A PostgreSQL cluster of a test's own, for tests that stop and restart the database server
(the suite's shared cluster must stay up for everything else).

As root the server runs as the `postgres` system user, as scripts/pg-cluster.sh does. The
cluster is made for speed (no fsync): a clean restart keeps every committed row all the same,
which is what the tests check.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.test_server import free_port


def _bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found (scripts/system-deps.sh)")
    return Path(found[-1])


def _as_owner(*command: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


class Cluster:
    """A running cluster on 127.0.0.1:`port`; `stop()`, `start()`, `restart()`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://dasan@127.0.0.1:{self.port}/dasan"
        self._pg_ctl = str(_bin() / "pg_ctl")

    def init(self) -> None:
        self.data.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
            shutil.chown(self.data, "postgres", "postgres")
        self.data.chmod(0o700)
        subprocess.run(
            _as_owner(str(_bin() / "initdb"), "-D", str(self.data), "-U", "dasan",
                      "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"),
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.folder}'\nmax_connections = 100\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "timezone = 'UTC'\n"
            )

    def start(self) -> None:
        subprocess.run(
            _as_owner(self._pg_ctl, "-D", str(self.data), "-l", str(self.folder / "log"),
                      "-w", "-t", "60", "start"),
            check=True, capture_output=True, timeout=90,
        )  # fmt: skip

    def stop(self) -> None:
        subprocess.run(
            _as_owner(self._pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "-t", "60",
                      "stop"),
            check=False, capture_output=True, timeout=90,
        )  # fmt: skip

    def log(self) -> str:
        path = self.folder / "log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextmanager
def own_cluster() -> Iterator[Cluster]:
    """A fresh cluster with the product's database migrated and the demo loaded (categories,
    Seoul's districts); stopped and removed when the block ends."""
    folder = Path(tempfile.mkdtemp(prefix="dasan-own-pg-"))
    folder.chmod(0o755)
    cluster = Cluster(folder)
    try:
        cluster.init()
        cluster.start()
        dasan = str(Path(sys.executable).with_name("dasan"))
        env = {**os.environ, "DASAN_DATABASE_URL": cluster.url}
        for command in (["db", "create"], ["db", "upgrade"], ["seed-demo"]):
            subprocess.run([dasan, *command], env=env, check=True, capture_output=True,
                           timeout=120)  # fmt: skip
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
