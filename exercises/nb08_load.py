"""Notebook 08 exercise: a closed-loop load generator of your own."""

from __future__ import annotations

import threading
import time

from harness.load import LoadRun, Send


def closed_loop(send: Send, clients: int, requests: int) -> LoadRun:
    """Put a closed-loop load on ``send``: ``clients`` threads, each sending its next request as
    soon as the answer to its previous one has arrived.

    ``send(k)`` sends request number ``k`` and returns once its answer is back; it raises if the
    request failed. Send every number from ``0`` to ``requests - 1`` exactly once, shared among
    the clients: client ``c`` (``0 … clients - 1``) can send ``range(c, requests, clients)``. All
    clients run at the same time, one ``threading.Thread`` each: start them all, then ``join``
    them all.

    Return ``LoadRun(latencies_s, wall_s)`` (from ``harness.load``):

    - ``latencies_s[k]``: the seconds request ``k`` took, from ``time.perf_counter()`` just before
      ``send(k)`` to just after it returned (a list of ``requests`` floats, in seconds);
    - ``wall_s``: seconds from just before the first thread starts to just after the last one
      has been joined.

    If a ``send`` raises, the other clients stop sending, and once every thread has ended,
    ``closed_loop`` raises that same exception: a load test that hides a failure reports a
    wrong number, not a slow one. Keep it in a list the threads share (an exception raised in a
    thread does not reach the code that started it).
    """
    raise NotImplementedError("write closed_loop in exercises/nb08_load.py")
