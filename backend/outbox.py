"""Per-client send queues over the server's ROUTER socket, bounded in bytes.

ZeroMQ's own flow control does the first part: the ROUTER is `ZMQ_ROUTER_MANDATORY` with a small
`ZMQ_SNDHWM`, so a send to a client whose pipe is full fails at once (EAGAIN) instead of queueing
without bound, and a send to a client that is gone fails (EHOSTUNREACH). Large messages are sent
tracked (`zmq.MessageTracker`): their bytes count as the client's until ZeroMQ has written them
to the socket, and at most `window` bytes (or one message) are with ZeroMQ per client.

What ZeroMQ does not take yet waits here, in a queue per client. Per client, queued + being read
from disk for it (`reserve`) + with ZeroMQ stays within `client_bytes`; over all clients within
`total_bytes` for large messages. A droppable message (a live frame, a reply, a heartbeat) that
would go over is dropped; the caller decides what that means (a dropped live frame is sent again
from disk). Small messages (replies, events) have their own total (`SMALL_TOTAL`), so large
frames held for slow readers never crowd out a reply to another client. Terminal events are
never dropped (one per job). A client with nothing queued, being
read or with ZeroMQ may always get one more message, so a client that reads is never starved by
others that do not.
"""
from __future__ import annotations

import time
from collections import deque

import zmq

SMALL = 64 * 1024            # messages below this are copied by pyzmq and not tracked
SMALL_TOTAL = 64 * 1024 * 1024  # small messages (replies, events) queued for all clients: their own bound


class Outboxes:
    def __init__(self, socket, client_bytes: int, total_bytes: int, window: int):
        self.socket = socket
        self.client_bytes = int(client_bytes)
        self.total_bytes = int(total_bytes)
        self.window = int(window)                   # bytes with ZeroMQ per client (at least one message)
        self._queues: dict[bytes, deque] = {}       # client -> deque of (parts, nbytes)
        self._bytes: dict[bytes, int] = {}          # client -> bytes queued here
        self._reserved: dict[bytes, int] = {}       # client -> bytes being read from disk for it
        self._inflight: dict[bytes, deque] = {}     # client -> (tracker, nbytes) of messages ZeroMQ still holds
        self._inflight_bytes: dict[bytes, int] = {}
        self.total = 0
        self.small_total = 0                        # of `total`, the messages under SMALL
        self.reserved_total = 0
        self.inflight_total = 0
        self.sent_at: dict[bytes, float] = {}       # client -> when something last went to ZeroMQ for it
        self.dropped = 0

    # ------------------------------------------------------------------ sending
    def send(self, ident: bytes, parts: list, droppable: bool = True) -> bool:
        """Send `parts` (header bytes, optional blob) to a client now, or queue them. False when
        the message was dropped (over a bound, or the client is gone)."""
        nbytes = sum(len(p) for p in parts)
        if ident not in self._queues and self._may_hand(ident, nbytes):
            sent = self._try(ident, parts, nbytes)
            if sent is not None:
                return sent
        if droppable and self._over(ident, nbytes):
            self.dropped += 1
            return False
        self._queues.setdefault(ident, deque()).append((parts, nbytes))
        self._bytes[ident] = self._bytes.get(ident, 0) + nbytes
        self.total += nbytes
        self.small_total += nbytes if nbytes < SMALL else 0
        return True

    def _over(self, ident: bytes, nbytes: int) -> bool:
        if self._held(ident) + nbytes > self.client_bytes:
            return True
        if nbytes < SMALL:
            return self.small_total + nbytes > SMALL_TOTAL
        return self._large_held() + nbytes > self.total_bytes

    def _held(self, ident: bytes) -> int:
        """Bytes on their way to `ident`: queued here, being read for it, with ZeroMQ."""
        return self._bytes.get(ident, 0) + self._reserved.get(ident, 0) + self._inflight_bytes.get(ident, 0)

    def _large_held(self) -> int:
        """Bytes counted against `total_bytes`: large messages queued, reads in flight, with ZeroMQ."""
        return self.total - self.small_total + self.reserved_total + self.inflight_total

    def _may_hand(self, ident: bytes, nbytes: int) -> bool:
        """ZeroMQ may take this message for the client now (its window has room, or is empty)."""
        self._settle(ident)
        held = self._inflight_bytes.get(ident, 0)
        return held == 0 or held + nbytes <= self.window

    def _try(self, ident: bytes, parts: list, nbytes: int) -> bool | None:
        """True: handed to ZeroMQ; None: its pipe is full (try later); False: the client is gone."""
        try:
            tracker = self.socket.send_multipart([ident, *parts], zmq.NOBLOCK, copy=False, track=nbytes >= SMALL)
        except zmq.Again:
            return None
        except zmq.ZMQError:  # EHOSTUNREACH: no such peer (it disconnected)
            self.forget(ident)
            return False
        self.sent_at[ident] = time.monotonic()
        if nbytes >= SMALL and tracker is not None and not tracker.done:
            self._inflight.setdefault(ident, deque()).append((tracker, nbytes))
            self._inflight_bytes[ident] = self._inflight_bytes.get(ident, 0) + nbytes
            self.inflight_total += nbytes
        return True

    def _settle(self, ident: bytes) -> None:
        """Forget the messages ZeroMQ has finished writing for `ident` (they complete in order)."""
        inflight = self._inflight.get(ident)
        while inflight and inflight[0][0].done:
            _, nbytes = inflight.popleft()
            self._inflight_bytes[ident] -= nbytes
            self.inflight_total -= nbytes
        if inflight is not None and not inflight:
            del self._inflight[ident]
            self._inflight_bytes.pop(ident, None)

    def flush(self) -> None:
        """Move queued messages on to ZeroMQ as far as the clients' windows and pipes take them."""
        for ident in list(self._inflight):
            self._settle(ident)
        for ident in list(self._queues):
            queue = self._queues.get(ident)
            while queue:
                parts, nbytes = queue[0]
                if not self._may_hand(ident, nbytes):
                    break
                sent = self._try(ident, parts, nbytes)
                if not sent:  # None: its pipe is full; False: forgotten with its queue
                    break
                queue.popleft()
                self._bytes[ident] -= nbytes
                self.total -= nbytes
                self.small_total -= nbytes if nbytes < SMALL else 0
            if ident in self._queues and not self._queues[ident]:
                del self._queues[ident]
                self._bytes.pop(ident, None)

    def pending(self) -> bool:
        """Messages wait here, or ZeroMQ still holds large ones (the loop should come back soon)."""
        return bool(self._queues) or bool(self._inflight)

    # ------------------------------------------------------------------ budgets for streams
    def room(self, ident: bytes) -> int:
        """Bytes that may still be queued for `ident` (its bound and the total bound)."""
        return min(self.client_bytes - self._held(ident), self.total_bytes - self._large_held())

    def idle(self, ident: bytes) -> bool:
        """Nothing waits here for `ident`, nothing is being read for it and ZeroMQ holds nothing
        of it: it takes what it is sent, and may get one more message whatever the total."""
        self._settle(ident)
        return ident not in self._queues and not self._reserved.get(ident) and not self._inflight_bytes.get(ident)

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
        """Drop everything queued for a client that is gone (what ZeroMQ holds of it, ZeroMQ drops)."""
        queue = self._queues.pop(ident, None)
        if queue is not None:
            self.total -= self._bytes.pop(ident, 0)
            self.small_total -= sum(n for _, n in queue if n < SMALL)
        self._bytes.pop(ident, None)
        self.inflight_total -= self._inflight_bytes.pop(ident, 0)
        self._inflight.pop(ident, None)
        self.sent_at.pop(ident, None)
