"""Notebook 03 exercises: reading a ROUTER's envelope, and answering the one who asked."""

from __future__ import annotations

from collections.abc import Sequence


def split_envelope(frames: Sequence[bytes]) -> tuple[list[bytes], list[bytes]]:
    """The identities before the empty delimiter, and the body frames after it.

    ``frames`` is what ``router.recv_multipart()`` returned for a request a REQ socket sent:
    zero or more identity frames (one per ROUTER it went through, the nearest first), an empty
    frame ``b""``, then the body. Return ``(identities, body_frames)`` as two lists, without the
    empty frame. With no empty frame at all, raise ``ValueError`` saying so.
    Example: ``[b"client-a", b"", b"hello"]`` → ``([b"client-a"], [b"hello"])``.
    """
    raise NotImplementedError("write split_envelope in exercises/nb03_routing.py")


def reply_to(frames: Sequence[bytes], body: bytes) -> list[bytes]:
    """The multipart reply that ``router.send_multipart()`` needs to answer ``frames``.

    Keep the whole envelope of the request (every identity frame, in the same order: the ROUTER
    routes on the first and strips it; the ones behind it are for the hops further back), then
    the empty delimiter, then ``body`` as the last frame.
    Example: ``reply_to([b"client-a", b"", b"hello"], b"hi")`` → ``[b"client-a", b"", b"hi"]``.
    """
    raise NotImplementedError("write reply_to in exercises/nb03_routing.py")
