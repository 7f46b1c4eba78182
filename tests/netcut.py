"""A loopback TCP proxy in front of a real server, for tests of what the network does.

`cut()` drops every connection and refuses new ones (a tunnel); `restore()` lets them
through again. `lose_answers(n)` forwards the next n requests but swallows the answers
and drops the connections (the server acted; the phone never heard): what makes a client
resend a request that already took effect.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class NetCut:
    """Listens on 127.0.0.1 (`url`) and forwards to `target_port`."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._open = threading.Event()
        self._open.set()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._swallow = 0
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        self._open.clear()
        with self._lock:
            for sock in list(self._sockets):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def restore(self) -> None:
        self._open.set()

    def lose_answers(self, count: int) -> None:
        with self._lock:
            self._swallow = count

    def close(self) -> None:
        self._stop = True
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._open.is_set():
                client.close()  # the network is down: connection refused (reset)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, answers: bool) -> None:
        """Copy bytes one way; while answers are to be lost, an answer's first bytes end the
        connection instead (the request reached the server; its answer never arrives)."""
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if answers:
                    with self._lock:
                        lose = self._swallow > 0
                        if lose:
                            self._swallow -= 1
                    if lose:
                        break
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            with self._lock:
                self._sockets.discard(sock)


@contextmanager
def netcut(target_port: int) -> Iterator[NetCut]:
    proxy = NetCut(target_port)
    try:
        yield proxy
    finally:
        proxy.close()
