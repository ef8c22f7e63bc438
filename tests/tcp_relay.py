"""A TCP relay for tests of what crosses a link: it delays, counts, and can freeze.

Each chunk read from one side is written to the other ``delay`` after it arrived, in order;
chunks do not wait for each other, so the relay adds latency, not a bandwidth limit (a relay that
slept before forwarding each chunk, as ``faulty``'s LatencyMiddleware on PyPI does, would add the
delay once per chunk in a row). Frozen, it keeps every connection open and throws away what it
reads: the far end neither answers nor hangs up, as when a network path is silently forgotten.
``client_closed`` tells when the connecting side hung up; ``bytes_forwarded`` counts what passed.

It runs two ways, with the same relaying:

- ``TcpRelay(target)``: in a thread of the test, on a free loopback port (``address``);
- as a process, inside a ``netns`` host (``RelayProcess``), a far link on one machine:

      python tests/tcp_relay.py --listen 127.0.0.1:6000 --target 198.18.0.1:5577 --delay-ms 50

  It prints ``listening`` once it accepts connections. A line ``DELAY_MS`` on standard input
  (``50``) sets the delay of chunks read from then on and is acknowledged with ``ok``; a line
  that is not a number is answered, and the relay keeps the delay it had.

tc netem would delay in the kernel, but this machine's kernel has no netem; toxiproxy, the
well-known chaos proxy, is a Go server with no PyPI package.
"""

from __future__ import annotations

import argparse
import asyncio
import selectors
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netns import Host

#: Bytes read at once from either side.
CHUNK = 65536
#: Seconds the relay may take to start listening, to acknowledge a new delay, or to stop.
ANSWER_TIMEOUT_S = 30.0


class Link:
    """What the relay does to the bytes it passes; changed from any thread while it runs."""

    def __init__(self, delay_ms: float = 0.0):
        self.delay_s = delay_ms / 1000.0
        self.frozen = threading.Event()
        self.client_closed = threading.Event()
        self.bytes_forwarded = 0


async def _forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: Link,
                   from_client: bool) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def receive() -> None:
        try:
            while chunk := await reader.read(CHUNK):
                if not link.frozen.is_set():
                    queue.put_nowait((loop.time() + link.delay_s, chunk))
        finally:
            if from_client:
                link.client_closed.set()
            queue.put_nowait((loop.time() + link.delay_s, b""))

    async def send() -> None:
        while True:
            due, chunk = await queue.get()
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            if not chunk:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            link.bytes_forwarded += len(chunk)
            writer.write(chunk)
            await writer.drain()

    await asyncio.gather(receive(), send())


async def _relay(target: tuple[str, int], link: Link, near_reader: asyncio.StreamReader,
                 near_writer: asyncio.StreamWriter) -> None:
    try:
        far_reader, far_writer = await asyncio.open_connection(*target)
    except OSError:
        near_writer.close()
        return
    try:
        await asyncio.gather(_forward(near_reader, far_writer, link, from_client=True),
                             _forward(far_reader, near_writer, link, from_client=False))
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        for writer in (near_writer, far_writer):
            writer.close()


async def _listen(listen: tuple[str, int], target: tuple[str, int], link: Link) -> asyncio.Server:
    return await asyncio.start_server(lambda r, w: _relay(target, link, r, w), *listen)


class TcpRelay:
    """The relay in a thread of this process, on a free loopback port, to ``target`` (host, port)."""

    def __init__(self, target: tuple[str, int], delay_ms: float = 0.0):
        self.target = target
        self.link = Link(delay_ms)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-relay", daemon=True)
        self._thread.start()
        listening = asyncio.run_coroutine_threadsafe(_listen(("127.0.0.1", 0), target, self.link), self._loop)
        self._server = listening.result(ANSWER_TIMEOUT_S)
        self.port: int = self._server.sockets[0].getsockname()[1]

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def frozen(self) -> threading.Event:
        return self.link.frozen

    @property
    def client_closed(self) -> threading.Event:
        return self.link.client_closed

    @property
    def bytes_forwarded(self) -> int:
        return self.link.bytes_forwarded

    def set_delay(self, milliseconds: float) -> None:
        self.link.delay_s = milliseconds / 1000.0

    def close(self) -> None:
        """Stop listening and drop every connection."""
        async def stop() -> None:
            self._server.close()
            connections = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in connections:
                task.cancel()
            await asyncio.gather(*connections, return_exceptions=True)
            await asyncio.sleep(0)  # the sockets' closing callbacks run

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(ANSWER_TIMEOUT_S)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(ANSWER_TIMEOUT_S)
        self._loop.close()


# --- the relay as a process -----------------------------------------------------------------------


async def _commands(link: Link) -> None:
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        try:
            link.delay_s = float(line) / 1000.0
        except ValueError:  # answered, not fatal: the relay keeps relaying at the delay it had
            print(f"not a delay in milliseconds: {line.strip()!r}", flush=True)
            continue
        print("ok", flush=True)
    loop.stop()  # the test that started us is gone


def _host_port(text: str) -> tuple[str, int]:
    host, port = text.rsplit(":", 1)
    return host, int(port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, type=_host_port, metavar="HOST:PORT")
    parser.add_argument("--target", required=True, type=_host_port, metavar="HOST:PORT")
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    link = Link(args.delay_ms)

    async def serve() -> None:
        server = await _listen(args.listen, args.target, link)
        print("listening", flush=True)
        async with server:
            await _commands(link)

    try:
        asyncio.run(serve())
    except RuntimeError:  # the loop stopped by _commands
        pass


class RelayProcess:
    """The relay as a process inside a host; ``set_delay(ms)`` while it runs, ``stop()`` after."""

    def __init__(self, host: Host, listen: str, target: str, delay_ms: float = 0.0):
        self.host = host
        self.listen = listen
        self.delay_ms = delay_ms
        argv = [sys.executable, str(Path(__file__).resolve()), "--listen", listen,
                "--target", target, "--delay-ms", str(delay_ms)]
        self._process = subprocess.Popen(host.command(argv), stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True, start_new_session=True)
        self._expect("listening")

    def _expect(self, word: str) -> None:
        assert self._process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            if not selector.select(ANSWER_TIMEOUT_S):
                self.stop()
                raise RuntimeError(f"the relay in {self.host.name} did not say {word!r}")
        line = self._process.stdout.readline().strip()
        if line != word:
            self.stop()
            raise RuntimeError(f"the relay in {self.host.name} said {line!r}, not {word!r}")

    def set_delay(self, milliseconds: float) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(f"{milliseconds}\n")
        self._process.stdin.flush()
        self._expect("ok")
        self.delay_ms = milliseconds

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(ANSWER_TIMEOUT_S)
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                stream.close()


if __name__ == "__main__":
    main()
