"""Notebook 03 exercises: reading a ROUTER's envelope, and answering the one who asked."""

from __future__ import annotations

from collections.abc import Sequence


def split_envelope(frames: Sequence[bytes]) -> tuple[list[bytes], list[bytes]]:
    """The identities before the empty delimiter, and the body frames after it."""
    if b"" not in frames:
        raise ValueError(f"no empty delimiter in {list(frames)!r}: this is not a request from a REQ socket")
    delimiter = list(frames).index(b"")
    return list(frames[:delimiter]), list(frames[delimiter + 1:])


def reply_to(frames: Sequence[bytes], body: bytes) -> list[bytes]:
    """The multipart reply to ``frames``: their envelope, the empty delimiter, then ``body``."""
    delimiter = list(frames).index(b"")
    return [*frames[:delimiter + 1], body]
