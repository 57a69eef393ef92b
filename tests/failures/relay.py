"""A TCP relay a test puts between the portal and a service it uses (PostgreSQL, Swift), to
cut the line for a while or slow it down."""
import socket
import threading
import time

BUFFER = 64 * 2**10


class Relay:
    """Forwards every connection to `target` (host, port).

    `cut()` drops the open connections and refuses new ones (accepted, then closed at once, as
    a server that went away looks to its client) until `restore()`. `rate` (bytes per second,
    None for no limit) slows the client → server direction; `forwarded` counts those bytes.
    """

    def __init__(self, target, *, rate=None):
        self.target = target
        self.rate = rate
        self.forwarded = 0
        self._cut = False
        self._lock = threading.Lock()
        self._sockets = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def cut(self):
        with self._lock:
            self._cut = True
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            _close(sock)

    def restore(self):
        with self._lock:
            self._cut = False

    def close(self):
        self.cut()
        _close(self._listener)

    def _accept(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                refused = self._cut
            if refused:
                _close(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=10)
                server.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._sockets.update((client, server))
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False),
                             daemon=True).start()

    def _pump(self, source, sink, upstream):
        try:
            while chunk := source.recv(BUFFER):
                if upstream and self.rate:
                    time.sleep(len(chunk) / self.rate)
                sink.sendall(chunk)
                if upstream:
                    self.forwarded += len(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with self._lock:
                    self._sockets.discard(sock)
                _close(sock)


def _close(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
