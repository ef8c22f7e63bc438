"""``ModelClient``: ask the model server for predictions without ever hanging.

Every request has a timeout. A request that gets no reply in time is sent again on a fresh socket,
a bounded number of times (the zguide's Lazy Pirate pattern), then fails with
``ModelServerTimeout``. A server that is not there at all is told apart from a slow one:
sockets are opened with ``ZMQ_IMMEDIATE``, so a request can only be sent over a live connection,
and if none comes up within ``connect_timeout`` the client raises ``ModelServerUnavailable``.

Each request tells the server how long the client will wait (``"deadline_ms"``, the timeout of
one attempt), so the server does not compute an answer nobody waits for.

By default the image travels as its own frame after a small JSON header, which saves the third
that base64 adds; ``binary=False`` sends our single base64 JSON frame instead.

Idle sockets send ZMTP heartbeats (``keepalive``), so that a connection the network would
forget (kube-proxy's IPVS after 900 s idle) stays open.

With ``keys`` (``curve.ClientKeys``) the client speaks CURVE, as a model server listening
beyond loopback requires. A server that refuses the client's key, or wants keys the client does
not have, is reported at once as ``ModelServerRefused`` instead of a timeout.

Thread-safe: ZeroMQ sockets must not be shared between threads, so each request borrows a socket
from a small pool and gives it back afterwards (Flask's threaded server starts a thread per
request, so one socket per thread would open a socket per request).
"""

from __future__ import annotations

import queue
import time
import uuid
from collections.abc import Callable
from typing import Protocol, TypeVar

import numpy as np
import zmq

from .curve import ClientKeys, HandshakeWatch, secure_client_socket
from .keepalive import HEARTBEAT_INTERVAL_S, keep_alive
from .protocol import (
    DEFAULT_ADDRESS,
    DEFAULT_TOP,
    ErrorCode,
    PredictReply,
    ServerError,
    ServerInfo,
    ServerStats,
    decode_reply,
    decode_server_info,
    decode_stats,
    encode_ping,
    encode_pixels_request_frames,
    encode_request,
    encode_request_frames,
    encode_stats_request,
)

#: Seconds to wait for one reply: many forward passes of ResNet50 on a CPU, so that only a server
#: that is stuck or overloaded runs out of it.
REQUEST_TIMEOUT_S = 5.0
#: How many times a request is sent again after a timeout.
REQUEST_RETRIES = 2
#: Seconds to wait for a connection before saying the server is down.
CONNECT_TIMEOUT_S = 0.5
#: Idle sockets kept for reuse; more concurrent requests open (and then close) extra sockets.
POOL_SIZE = 16



class _Identified(Protocol):
    @property
    def id(self) -> str | None: ...  # read-only: the replies are frozen dataclasses


T = TypeVar("T", bound=_Identified)


class ModelServerUnavailable(ServerError):
    """Nothing is listening at the server's address (it is down or starting)."""

    def __init__(self, message: str):
        super().__init__(ErrorCode.UNAVAILABLE.value, message)


class ModelServerRefused(ModelServerUnavailable):
    """The server is there but the security handshake failed: a key is missing, unknown or wrong."""

    def __init__(self, message: str):
        ServerError.__init__(self, ErrorCode.REFUSED.value, message)


class _Connection:
    """A REQ socket to the server, and the watch on its security handshakes."""

    def __init__(self, context: zmq.Context[zmq.Socket[bytes]], address: str, keys: ClientKeys | None,
                 heartbeat_s: float):
        self.socket = context.socket(zmq.REQ)
        self.socket.linger = 0
        self.socket.setsockopt(zmq.IMMEDIATE, 1)
        keep_alive(self.socket, heartbeat_s)
        secure_client_socket(self.socket, keys)
        self.handshake = HandshakeWatch(self.socket, address, keys)
        self.socket.connect(address)

    def wait_until_connected(self, timeout_s: float) -> bool:
        """Whether a request can be sent within ``timeout_s``; raises ``ModelServerRefused`` as
        soon as the server turns this client away."""
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLOUT)
        poller.register(self.handshake.socket, zmq.POLLIN)
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            if self.socket in dict(poller.poll(int(remaining * 1000))):
                return True
            failure = self.handshake.check()
            if failure is not None:
                raise ModelServerRefused(failure)
        return False

    def close(self) -> None:
        self.socket.close(linger=0)
        self.handshake.close()


class ModelServerTimeout(ServerError):
    """The server is there but did not answer in time, even after retries."""

    def __init__(self, message: str):
        super().__init__(ErrorCode.TIMEOUT.value, message)


class ModelClient:
    """A client of the model server; see the module docstring for its guarantees."""

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        timeout: float = REQUEST_TIMEOUT_S,
        retries: int = REQUEST_RETRIES,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        binary: bool = True,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
        keys: ClientKeys | None = None,
        heartbeat_s: float = HEARTBEAT_INTERVAL_S,
    ):
        self.address = address
        #: Seconds between ZMTP heartbeats on an idle socket (``keepalive``); 0: none.
        self.heartbeat_s = heartbeat_s
        self.keys = keys
        self.binary = binary
        self.timeout = timeout
        self.retries = retries
        self.connect_timeout = connect_timeout
        self._context = context or zmq.Context.instance()
        self._idle: queue.LifoQueue[_Connection] = queue.LifoQueue(maxsize=POOL_SIZE)
        self._closed = False

    def predict(self, image: bytes | np.ndarray, top: int = DEFAULT_TOP) -> PredictReply:
        """The ``top`` classes for an image file's bytes (JPEG, PNG, …), or for its pixels.

        The file goes as a second frame, or as base64 inside the JSON (our one-frame form) when
        the client was made with ``binary=False``. An array is sent as decoded pixels, which
        the server does not decode again: it must be 224×224×3 uint8 (what
        ``model_server.images.decode_image`` returns), or the server refuses it (``bad_request``).

        Raises ``ServerError`` (with the server's code) for an image it refuses,
        ``ModelServerUnavailable`` or ``ModelServerTimeout`` when it cannot answer.
        """
        request_id = uuid.uuid4().hex
        deadline_ms = self.timeout * 1000
        if isinstance(image, np.ndarray):
            frames = encode_pixels_request_frames(
                np.ascontiguousarray(image).tobytes(), image.shape, str(image.dtype), top, request_id,
                deadline_ms)
        elif self.binary:
            frames = encode_request_frames(image, top, request_id, deadline_ms)
        else:
            frames = [encode_request(image, top, request_id, deadline_ms)]
        return self._request(frames, request_id, decode_reply)

    def ping(self) -> ServerInfo:
        """Which model and weights the server runs; the cheapest way to see that it answers."""
        request_id = uuid.uuid4().hex
        return self._request([encode_ping(request_id, self.timeout * 1000)], request_id, decode_server_info)

    def stats(self) -> ServerStats:
        """The broker's queue depth, workers, batch sizes and counts; answered without a worker."""
        request_id = uuid.uuid4().hex
        return self._request([encode_stats_request(request_id)], request_id, decode_stats)

    def _request(self, frames: list[bytes], request_id: str, decode: Callable[[bytes], T]) -> T:
        if self._closed:
            raise RuntimeError("this ModelClient is closed")
        failure: ServerError | None = None
        for _ in range(1 + self.retries):
            connection = self._checkout()
            try:
                connected = connection.wait_until_connected(self.connect_timeout)
            except ModelServerRefused:
                connection.close()
                raise
            if not connected:
                # Still reconnecting on its own: keep the socket for the next request.
                self._checkin(connection)
                failure = ModelServerUnavailable(
                    f"no model server is answering at {self.address} (is it running?)"
                )
                continue
            socket = connection.socket
            socket.send_multipart(frames, copy=False)
            if socket.poll(int(self.timeout * 1000), zmq.POLLIN):
                reply = socket.recv()
                self._checkin(connection)
                try:
                    result = decode(reply)
                except ServerError as error:
                    if error.code != ErrorCode.DEADLINE_EXCEEDED.value:
                        raise
                    # The server gave up on this attempt just as we were about to: a timeout.
                    failure = self._timeout()
                    continue
                if result.id != request_id:
                    raise ServerError(
                        ErrorCode.MISMATCHED_REPLY.value, f"the model server answered request {result.id!r}, "
                        f"not {request_id!r}: it is not speaking this protocol correctly",
                    )
                return result
            # Lazy Pirate: a REQ socket that got no reply is stuck; throw it away.
            connection.close()
            failure = self._timeout()
        assert failure is not None
        raise failure

    def _timeout(self) -> ModelServerTimeout:
        return ModelServerTimeout(
            f"the model server at {self.address} did not answer within {self.timeout:g} s"
            f" ({1 + self.retries} attempts)"
        )

    def _checkout(self) -> _Connection:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return _Connection(self._context, self.address, self.keys, self.heartbeat_s)

    def _checkin(self, connection: _Connection) -> None:
        if self._closed:
            connection.close()
            return
        try:
            self._idle.put_nowait(connection)
        except queue.Full:
            connection.close()

    def close(self) -> None:
        """Close the pooled sockets; requests in other threads finish with their own."""
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    def __enter__(self) -> ModelClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
