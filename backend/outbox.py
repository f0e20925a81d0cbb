"""Per-client send queues over the server's ROUTER socket, bounded in bytes.

ZeroMQ's own flow control does the first part: the ROUTER is `ZMQ_ROUTER_MANDATORY` with a small
`ZMQ_SNDHWM`, so a send to a client whose pipe is full fails at once (EAGAIN) instead of queueing
without bound, and a send to a client that is gone fails (EHOSTUNREACH). What does not fit waits
here, in a queue per client bounded by `client_bytes` and by `total_bytes` over all clients;
`flush()` moves it on as clients read. A message marked droppable (a live frame, a reply, a
heartbeat) is dropped when it would go over a bound; the caller decides what that means (a
dropped live frame is sent again from disk). Terminal events are never dropped (one per job).
Streams from disk (attach replay) ask `room()` first and `reserve()` what they are reading.
"""
from __future__ import annotations

import time
from collections import deque

import zmq


class Outboxes:
    def __init__(self, socket, client_bytes: int, total_bytes: int):
        self.socket = socket
        self.client_bytes = int(client_bytes)
        self.total_bytes = int(total_bytes)
        self._queues: dict[bytes, deque] = {}       # client -> deque of (parts, nbytes)
        self._bytes: dict[bytes, int] = {}          # client -> bytes queued here
        self._reserved: dict[bytes, int] = {}       # client -> bytes being read from disk for it
        self.total = 0
        self.reserved_total = 0
        self.sent_at: dict[bytes, float] = {}       # client -> when something last went to ZeroMQ for it
        self.dropped = 0

    # ------------------------------------------------------------------ sending
    def send(self, ident: bytes, parts: list, droppable: bool = True) -> bool:
        """Send `parts` (header bytes, optional blob) to a client now, or queue them. False when
        the message was dropped (over a bound, or the client is gone)."""
        nbytes = sum(len(p) for p in parts)
        queue = self._queues.get(ident)
        if not queue:
            sent = self._try(ident, parts)
            if sent is not None:
                return sent
        if droppable and (self._bytes.get(ident, 0) + nbytes > self.client_bytes
                          or self.total + nbytes > self.total_bytes):
            self.dropped += 1
            return False
        self._queues.setdefault(ident, deque()).append((parts, nbytes))
        self._bytes[ident] = self._bytes.get(ident, 0) + nbytes
        self.total += nbytes
        return True

    def _try(self, ident: bytes, parts: list) -> bool | None:
        """True: handed to ZeroMQ; None: its pipe is full (try later); False: the client is gone."""
        try:
            self.socket.send_multipart([ident, *parts], zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return None
        except zmq.ZMQError:  # EHOSTUNREACH: no such peer (it disconnected)
            self.forget(ident)
            return False
        self.sent_at[ident] = time.monotonic()
        return True

    def flush(self) -> None:
        """Move queued messages on to ZeroMQ as far as the clients' pipes take them."""
        for ident in list(self._queues):
            queue = self._queues.get(ident)
            while queue:
                parts, nbytes = queue[0]
                sent = self._try(ident, parts)
                if sent is None:
                    break
                if sent is False:  # forgotten with its queue
                    break
                queue.popleft()
                self._bytes[ident] -= nbytes
                self.total -= nbytes
            if ident in self._queues and not self._queues[ident]:
                del self._queues[ident]
                self._bytes.pop(ident, None)

    def pending(self) -> bool:
        return bool(self._queues)

    def queued_bytes(self, ident: bytes) -> int:
        return self._bytes.get(ident, 0)

    # ------------------------------------------------------------------ budgets for streams
    def room(self, ident: bytes) -> int:
        """Bytes that may still be queued for `ident` (its bound and the total bound)."""
        mine = self._bytes.get(ident, 0) + self._reserved.get(ident, 0)
        return min(self.client_bytes - mine, self.total_bytes - self.total - self.reserved_total)

    def reserve(self, ident: bytes, nbytes: int) -> None:
        self._reserved[ident] = self._reserved.get(ident, 0) + nbytes
        self.reserved_total += nbytes

    def release(self, ident: bytes, nbytes: int) -> None:
        left = self._reserved.get(ident, 0) - nbytes
        if left > 0:
            self._reserved[ident] = left
        else:
            self._reserved.pop(ident, None)
        self.reserved_total -= nbytes

    def forget(self, ident: bytes) -> None:
        """Drop everything queued for a client that is gone."""
        queue = self._queues.pop(ident, None)
        if queue:
            self.total -= self._bytes.pop(ident, 0)
        self._bytes.pop(ident, None)
        self.sent_at.pop(ident, None)
