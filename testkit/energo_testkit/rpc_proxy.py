"""A small asyncio HTTP proxy in front of the JSON-RPC node that misbehaves on purpose.

Per request, with the configured probability, it injects one fault:
- error:          HTTP 502 with an HTML body (a load balancer in trouble)
- rpc_error:      a JSON-RPC error object ("internal error")
- garbage:        HTTP 200 with a body that is not JSON
- timeout:        accepts the request and answers nothing until the client gives up
- drop:           closes the connection without answering
- lost_response:  forwards the request to the node, then drops the node's answer
                  (so a transaction may be in the mempool while the sender saw a failure)

And for outages: ``refuse()`` closes the listening socket (connections are refused, as
from a node that is down) until ``accept()`` listens on the same port again. A hung node
is the real node stopped with SIGSTOP behind the proxy: requests reach it and wait.
The oracle's fault tests and the API's indexer tests share this one proxy.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter

FAULTS = ("error", "rpc_error", "garbage", "timeout", "drop", "lost_response")


class RpcProxy:
    def __init__(self, upstream_port: int, fault_rate: float = 0.0, seed: int = 0, hold_s: float = 1.5):
        self.upstream_port = upstream_port
        self.fault_rate = fault_rate
        self.hold_s = hold_s
        self._random = random.Random(seed)
        self.injected: Counter[str] = Counter()
        self.forwarded = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        ready = threading.Event()

        self.port = 0

        def run():
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert ready.wait(5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def refuse(self) -> None:
        """Stop listening: every new connection is refused until accept()."""

        async def stop_listening():
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop_listening(), self._loop).result(5)

    def accept(self) -> None:
        """Listen again on the same port."""

        async def listen():
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

        asyncio.run_coroutine_threadsafe(listen(), self._loop).result(5)

    def close(self) -> None:
        def stop():
            self._server.close()
            self._loop.stop()

        self._loop.call_soon_threadsafe(stop)
        self._thread.join(5)

    async def _read_request(self, reader) -> bytes | None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await reader.readexactly(length)
        return body

    async def _forward(self, body: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        writer.write(b"POST / HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\n"
                     b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        await writer.drain()
        response = await reader.read()
        writer.close()
        return response.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in response else b""

    @staticmethod
    def _respond(writer, status: str, body: bytes, content_type: str = "application/json") -> None:
        writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nConnection: close\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    async def _handle(self, reader, writer) -> None:
        try:
            body = await self._read_request(reader)
            fault = self._random.choice(FAULTS) if self._random.random() < self.fault_rate else None
            if fault:
                self.injected[fault] += 1
            if fault == "error":
                self._respond(writer, "502 Bad Gateway", b"<html>bad gateway</html>", "text/html")
            elif fault == "rpc_error":
                self._respond(writer, "200 OK", b'{"jsonrpc":"2.0","id":1,"error":{"code":-32603,'
                                                b'"message":"internal error"}}')
            elif fault == "garbage":
                self._respond(writer, "200 OK", b"\x00\xffnot json at all")
            elif fault == "timeout":
                await asyncio.sleep(self.hold_s)
            elif fault == "drop":
                pass
            elif fault == "lost_response":
                await self._forward(body)
            else:
                self._respond(writer, "200 OK", await self._forward(body))
                self.forwarded += 1
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            writer.close()
