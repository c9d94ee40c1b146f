#!/usr/bin/python3
"""The lab's control-plane endpoint: a TCP proxy in front of the kube-apiservers.

What a real HA cluster has in HAProxy or a load balancer: it listens on one stable address,
checks every API server's /readyz each second (TLS without verification, as HAProxy's
`option httpchk` setups do) and passes each connection to the next ready one. When none is
ready (during `kubeadm init`) it tries them in order. Standard library only; runs inside the
vault host's network namespace, where only lab addresses exist.

usage: apiserver_proxy.py LISTEN_ADDR:PORT BACKEND_ADDR:PORT [...]
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
import sys

CHECK_EVERY = 1.0
CONNECT_TIMEOUT = 1.0


def split(endpoint: str) -> tuple[str, int]:
    host, port = endpoint.rsplit(":", 1)
    return host, int(port)


class Proxy:
    def __init__(self, backends: list[tuple[str, int]]):
        self.backends = backends
        self.ready = {b: False for b in backends}
        self.turn = itertools.count()
        self.tls = ssl.create_default_context()
        self.tls.check_hostname = False
        self.tls.verify_mode = ssl.CERT_NONE

    async def check(self, backend: tuple[str, int]) -> bool:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(*backend, ssl=self.tls), CONNECT_TIMEOUT)
        except (TimeoutError, OSError, ssl.SSLError):
            return False
        try:
            writer.write(f"GET /readyz HTTP/1.1\r\nHost: {backend[0]}\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), 2)
            return status.split()[1:2] == [b"200"]
        except (TimeoutError, OSError, ssl.SSLError, IndexError):
            return False
        finally:
            writer.close()

    async def health_loop(self) -> None:
        while True:
            results = await asyncio.gather(*(self.check(b) for b in self.backends))
            for backend, ok in zip(self.backends, results, strict=True):
                if ok != self.ready[backend]:
                    print(f"apiserver {backend[0]}:{backend[1]} {'ready' if ok else 'NOT ready'}", flush=True)
                self.ready[backend] = ok
            await asyncio.sleep(CHECK_EVERY)

    def order(self) -> list[tuple[str, int]]:
        start = next(self.turn) % len(self.backends)
        rotated = self.backends[start:] + self.backends[:start]
        ready = [b for b in rotated if self.ready[b]]
        return ready or rotated

    async def handle(self, client_reader, client_writer) -> None:
        for backend in self.order():
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(*backend), CONNECT_TIMEOUT)
            except (TimeoutError, OSError):
                continue
            await asyncio.gather(pipe(client_reader, writer), pipe(reader, client_writer))
            return
        client_writer.close()


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()


async def main(listen: str, backends: list[str]) -> None:
    proxy = Proxy([split(b) for b in backends])
    server = await asyncio.start_server(proxy.handle, *split(listen), reuse_address=True)
    print(f"listening on {listen}, backends {' '.join(backends)}", flush=True)
    async with server:
        await asyncio.gather(server.serve_forever(), proxy.health_loop())


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], sys.argv[2:]))
