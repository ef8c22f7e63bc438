"""``harness.processes.started_together``: servers launched at once, waited for at the block's end."""

from __future__ import annotations

import sys

import pytest

from harness import processes
from model_server.serving.lifecycle import ServerStartError

SLOW_START_S = 1.0


def _http_server(name: str, delay_s: float = 0.0, exit_code: int | None = None) -> processes.ServerProcess:
    """A small HTTP server that starts listening after ``delay_s`` (or exits with ``exit_code``)."""
    port = processes.free_port()
    url = f"http://127.0.0.1:{port}"
    if exit_code is not None:
        code = f"import sys; sys.exit({exit_code})"
    else:
        code = (f"import time, http.server; time.sleep({delay_s}); "
                f"http.server.HTTPServer(('127.0.0.1', {port}), "
                "http.server.SimpleHTTPRequestHandler).serve_forever()")
    return processes.ServerProcess(name, [sys.executable, "-c", code], url, processes.http_answers(url))


def test_servers_started_together_are_launched_before_any_is_waited_for() -> None:
    slow, quick = _http_server("test-slow", SLOW_START_S), _http_server("test-quick")
    try:
        with processes.started_together():
            slow.start()
            quick.start()
            assert slow.running() and quick.running() and slow.ready_seconds is None
        assert slow.ready_seconds is not None and quick.ready_seconds is not None
        assert slow.ready_seconds >= SLOW_START_S
        launched_before_slow_was_ready = quick._started_at < slow._started_at + slow.ready_seconds
        assert launched_before_slow_was_ready
    finally:
        slow.stop()
        quick.stop()


def test_one_server_that_fails_to_start_stops_the_others() -> None:
    good, bad = _http_server("test-good"), _http_server("test-bad", exit_code=3)
    with pytest.raises(ServerStartError, match="exited with code 3"), processes.started_together():
        good.start()
        bad.start()
    assert not good.running() and not bad.running()
    assert good not in processes.running_servers()
