"""A transport that sends a response's status line and headers in the same system call as its body.

uvicorn writes the head of a response (`http.response.start`) and its body (`http.response.body`) as two
`transport.write` calls, so every small JSON answer costs two sends, and on loopback each send also runs the peer's
receive path and wakes it. Holding the head until the body's write, or until the event loop's next pass when no
body follows at once (a streamed response, `100 Continue`), sends both with one `writelines`: one `writev` under
uvloop. Bytes are never reordered or dropped, and a head is never held past the next pass.
"""

from __future__ import annotations

import asyncio
from typing import Any

_HEAD_START = b"HTTP/1.1 "
_HEAD_END = b"\r\n\r\n"


class CoalescedTransport:
    """Wraps a connection's transport; everything but `write`, `writelines` and `close` goes to it unchanged."""

    __slots__ = ("_head", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.writelines((head, data))
        elif data.startswith(_HEAD_START) and data.endswith(_HEAD_END):
            self._head = data
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def writelines(self, chunks: Any) -> None:
        self.flush()
        self._transport.writelines(chunks)

    def flush(self) -> None:
        head = self._head
        if head is not None:
            self._head = None
            if not self._transport.is_closing():
                self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
