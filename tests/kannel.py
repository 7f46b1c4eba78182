"""A real Kannel on 127.0.0.1 for the tests: bearerbox, smsbox and the test SMS centre.

Debian's `kannel` and `kannel-extras` (installed by scripts/system-deps.sh). Every process
runs in its own session and is stopped by its process group (smsbox re-forks itself when
it loses bearerbox, under a new pid in the same group). fakesmsc, standing in for the
operator, prints each message it receives on stderr as
`Got message N: <sender receiver type payload>`; UCS-2 payloads are URL-encoded UTF-16BE,
and the parts of a long text carry a UDH (reference, count, sequence).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import httpx

BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
USERNAME, PASSWORD, ADMIN_PASSWORD = "dasan", "sms-test", "kannel-admin"

CONF = """\
group = core
admin-port = {admin}
admin-interface = 127.0.0.1
admin-password = {admin_password}
status-password = {admin_password}
admin-allow-ip = "127.0.0.1"
smsbox-port = {smsbox}
smsbox-interface = 127.0.0.1
box-allow-ip = "127.0.0.1"
log-file = "{dir}/bearerbox.log"
log-level = 2
dlr-storage = internal
store-type = file
store-location = "{dir}/kannel.store"
store-dump-freq = 1

group = smsc
smsc = fake
smsc-id = fake
port = {fake}
our-host = 127.0.0.1
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {smsbox}
sendsms-port = {sendsms}
sendsms-interface = 127.0.0.1
log-file = "{dir}/smsbox.log"
log-level = 2

group = sendsms-user
username = {username}
password = {password}
max-messages = 30
concatenation = true

group = sms-service
keyword = default
catch-all = true
omit-empty = true
text = ""
"""
_GOT = re.compile(r"Got message \d+: <(\S+) (\S+) (\S+) (.*)>$")


def installed() -> bool:
    return all(Path(p).exists() for p in (BEARERBOX, SMSBOX, FAKESMSC))


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class Received:
    sender: str
    to: str
    text: str


class Kannel:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.admin, self.smsbox_port, self.fake, self.sendsms = _free_ports(4)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.conf = self.dir / "kannel.conf"
        self.conf.write_text(
            CONF.format(
                dir=self.dir, admin=self.admin, smsbox=self.smsbox_port, fake=self.fake,
                sendsms=self.sendsms, username=USERNAME, password=PASSWORD,
                admin_password=ADMIN_PASSWORD,
            )
        )  # fmt: skip
        self._smsc_logs = 0

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms}/cgi-bin/sendsms"

    def status(self) -> str:
        try:
            response = httpx.get(
                f"http://127.0.0.1:{self.admin}/status.txt",
                params={"password": ADMIN_PASSWORD},
                timeout=1,
            )
        except httpx.HTTPError:
            return ""
        return response.text if response.status_code == 200 else ""

    def _spawn(self, name: str, argv: list[str], stderr: Path) -> None:
        with (self.dir / f"{name}.out").open("ab") as out, stderr.open("ab") as err:
            self.processes[name] = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=self.dir,
                start_new_session=True,
            )  # fmt: skip

    def _wait(self, ready, what: str, timeout: float = 15) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"Kannel: {what} not ready in {timeout} s")
            time.sleep(0.05)

    def start(self) -> Kannel:
        self._spawn("bearerbox", [BEARERBOX, "-v", "4", str(self.conf)], self.dir / "bb.err")
        self._wait(lambda: "Status: running" in self.status(), "bearerbox")
        self.start_operator()
        self.start_smsbox()
        return self

    def start_operator(self) -> None:
        """fakesmsc: receive only (-m 0 and one message it never sends)."""
        self._smsc_logs += 1
        log = self.dir / f"fakesmsc-{self._smsc_logs}.err"
        argv = [FAKESMSC, "-H", "127.0.0.1", "-r", str(self.fake), "-m", "0", "0 0 text unused"]
        self._spawn("fakesmsc", argv, log)
        self._wait(lambda: f"FAKE:{self.fake} (online" in self.status(), "fakesmsc")

    def start_smsbox(self) -> None:
        self._spawn("smsbox", [SMSBOX, "-v", "4", str(self.conf)], self.dir / "smsbox.err")

        def ready() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.sendsms), timeout=0.2).close()
            except OSError:
                return False
            return "smsbox:(none)" in self.status()

        self._wait(ready, "smsbox")

    def stop_process(self, name: str, grace: float = 3) -> None:
        """SIGTERM to the process group, SIGKILL after `grace` seconds (smsbox may linger
        over delivery reports it cannot hand over)."""
        process = self.processes.pop(name, None)
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.02)
        else:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait(timeout=5)

    def stop(self) -> None:
        for name in ("smsbox", "fakesmsc", "bearerbox"):
            self.stop_process(name)

    def received(self) -> list[Received]:
        """Every text the operator got, long ones joined from their parts, in arrival order."""
        texts: list[Received] = []
        parts: dict[tuple[str, int], dict[int, bytes]] = {}
        for log in sorted(self.dir.glob("fakesmsc-*.err")):
            for line in log.read_text("utf-8", "replace").splitlines():
                match = _GOT.search(line)
                if match is None:
                    continue
                sender, to, kind, payload = match.groups()
                if kind == "udh":
                    udh_text, _, data = payload.partition(" data ")
                    udh = urllib.parse.unquote_to_bytes(udh_text)
                    reference, count, sequence = udh[3], udh[4], udh[5]
                    group = parts.setdefault((to, reference), {})
                    group[sequence] = urllib.parse.unquote_to_bytes(data.replace("+", " "))
                    if len(group) == count:
                        joined = b"".join(group[i] for i in sorted(group))
                        texts.append(Received(sender, to, joined.decode("utf-16-be")))
                        del parts[(to, reference)]
                elif kind == "ucs-2":
                    raw = urllib.parse.unquote_to_bytes(payload.replace("+", " "))
                    texts.append(Received(sender, to, raw.decode("utf-16-be")))
                else:
                    texts.append(Received(sender, to, payload))
        return texts

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(got := self.received()) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return got
