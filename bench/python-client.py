"""Python's xmlrpc.client as a comparison for bench/check.js.

    python3 bench/python-client.py (--url URL | --socket PATH)
        --method NAME [--also NAME ...] [--fresh] [--warmup W] [--calls N] [--floor]

Makes W warm-up calls, then N timed calls of NAME (no parameters) on one
ServerProxy, whose transport keeps the HTTP/1.1 connection alive between
calls like ours does.

With --also, each call (warm-up or timed) is NAME followed by every --also
method in order, timed as one: e.g. `--method supervisor.getAllProcessInfo
--also supervisor.getSupervisorVersion` is what one run of the Datadog
Agent's supervisord check asks. With --fresh, each call makes a new
ServerProxy (a new connection) and closes it afterwards, inside the timing,
as the Agent's check does on every run; without it the proxy and its
connection are kept for all calls. Over a unix socket it uses a small transport in the
manner of supervisor's own (supervisorctl and the Datadog check reach a
unix socket the same way: an http.client connection with another connect()).

With --floor it also times, round-robin with the calls (so load bursts hit
both alike), the same request on a raw kept-alive socket that only reads
the answer's bytes and discards them: the CPU any Python client pays to
receive the answer (supervisord trickles it 4 KiB per turn of its loop, and
each wake-up costs CPU), so that the parsing cost can be told apart.

Prints one JSON object: per-call wall and CPU times in ms (time.perf_counter
and time.process_time, taken around each call), the CPU time of all timed
calls, the length of the last answer (a sanity check for the caller), and
with --floor the same figures of the raw reads under "floor".
Standard library only.
"""

import argparse
import http.client
import json
import platform
import socket
import sys
import time
import urllib.parse
import xmlrpc.client


class UnixHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to a unix socket (the Host header says localhost)."""

    def __init__(self, path):
        super().__init__("localhost")
        self.socket_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(self.socket_path)
        self.sock = sock


class UnixTransport(xmlrpc.client.Transport):
    """Transport that keeps one UnixHTTPConnection, as Transport does for TCP."""

    def __init__(self, path):
        super().__init__()
        self.socket_path = path

    def make_connection(self, host):
        if self._connection and host == self._connection[0]:
            return self._connection[1]
        conn = UnixHTTPConnection(self.socket_path)
        self._connection = host, conn
        return conn


class RawReader:
    """Sends one fixed request per call on a kept-alive socket and reads the
    answer (framed by Content-Length) without parsing it."""

    def __init__(self, args, method):
        body = (
            "<?xml version='1.0'?>\n<methodCall>\n<methodName>%s</methodName>\n"
            "<params>\n</params>\n</methodCall>\n" % method
        ).encode("ascii")
        host = "localhost"
        if args.socket is not None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(args.socket)
        else:
            parts = urllib.parse.urlsplit(args.url)
            host = parts.netloc
            self.sock = socket.create_connection((parts.hostname, parts.port or 80))
        head = (
            "POST /RPC2 HTTP/1.1\r\nHost: %s\r\nContent-Type: text/xml\r\n"
            "Content-Length: %d\r\n\r\n" % (host, len(body))
        ).encode("ascii")
        self.request = head + body

    def call(self):
        self.sock.sendall(self.request)
        received = b""
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            received += chunk
            end = received.find(b"\r\n\r\n")
            if end >= 0:
                break
        length = None
        for line in received[:end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise ValueError("answer without Content-Length")
        remaining = length - (len(received) - end - 4)
        while remaining > 0:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            remaining -= len(chunk)
        return length

    def close(self):
        self.sock.close()


def timed(fn, wall_ms, cpu_ms):
    w = time.perf_counter()
    c = time.process_time()
    result = fn()
    cpu_ms.append((time.process_time() - c) * 1e3)
    wall_ms.append((time.perf_counter() - w) * 1e3)
    return result


def main():
    parser = argparse.ArgumentParser()
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url")
    where.add_argument("--socket")
    parser.add_argument("--method", required=True)
    parser.add_argument("--also", action="append", default=[])
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--floor", action="store_true")
    args = parser.parse_args()

    def new_proxy():
        if args.socket is not None:
            return xmlrpc.client.ServerProxy("http://localhost/RPC2", transport=UnixTransport(args.socket))
        return xmlrpc.client.ServerProxy(args.url)

    methods = [args.method] + args.also
    kept = None if args.fresh else new_proxy()

    def call():
        # The first method's answer is returned (the caller checks its length).
        proxy = new_proxy() if kept is None else kept
        try:
            result = getattr(proxy, methods[0])()
            for name in methods[1:]:
                getattr(proxy, name)()
        finally:
            if kept is None:
                proxy("close")()
        return result

    raw = RawReader(args, args.method) if args.floor else None

    for _ in range(args.warmup):
        call()
        if raw is not None:
            raw.call()

    wall_ms, cpu_ms = [], []
    raw_wall_ms, raw_cpu_ms = [], []
    result = None
    raw_bytes = None
    for _ in range(args.calls):
        result = timed(call, wall_ms, cpu_ms)
        if raw is not None:
            raw_bytes = timed(raw.call, raw_wall_ms, raw_cpu_ms)
    if kept is not None:
        kept("close")()
    if raw is not None:
        raw.close()

    out = {
        "python": platform.python_version(),
        "method": args.method,
        "also": args.also,
        "fresh": args.fresh,
        "calls": args.calls,
        "wallMs": wall_ms,
        "cpuMs": cpu_ms,
        "totalCpuMs": sum(cpu_ms),
        "resultLength": len(result) if isinstance(result, (list, str, dict)) else None,
    }
    if raw is not None:
        out["floor"] = {"wallMs": raw_wall_ms, "cpuMs": raw_cpu_ms, "totalCpuMs": sum(raw_cpu_ms), "bodyBytes": raw_bytes}
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
