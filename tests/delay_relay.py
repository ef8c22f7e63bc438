"""A TCP relay that delays every chunk by a set time each way: a far link, on one machine.

    python tests/delay_relay.py --listen 127.0.0.1:6000 --target 198.18.0.1:5577 --delay-ms 50

Each chunk read from one side is written to the other ``--delay-ms`` after it arrived, in order;
chunks do not wait for each other, so the relay adds latency, not a bandwidth limit (a relay that
slept before forwarding each chunk, as ``faulty``'s LatencyMiddleware on PyPI does, would add the
delay once per chunk in a row). The delay can be changed while it runs: a line ``DELAY_MS`` on
standard input (``50``) applies to chunks read from then on and is acknowledged with ``ok``. It
prints ``listening`` once it accepts connections. ``DelayRelay`` runs it inside a ``netns`` host.

tc netem would do this in the kernel, but this machine's kernel has no netem; toxiproxy, the
well-known chaos proxy, is a Go server with no PyPI package.
"""

from __future__ import annotations

import argparse
import asyncio
import selectors
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netns import Host

#: Bytes read at once from either side.
CHUNK = 65536
#: Seconds the relay may take to start listening, or to acknowledge a new delay.
ANSWER_TIMEOUT_S = 30.0


class Delay:
    def __init__(self, milliseconds: float):
        self.seconds = milliseconds / 1000.0


async def _forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: Delay) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def receive() -> None:
        try:
            while chunk := await reader.read(CHUNK):
                queue.put_nowait((loop.time() + delay.seconds, chunk))
        finally:
            queue.put_nowait((loop.time() + delay.seconds, b""))

    async def send() -> None:
        while True:
            due, chunk = await queue.get()
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            if not chunk:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(chunk)
            await writer.drain()

    await asyncio.gather(receive(), send())


async def _relay(target: tuple[str, int], delay: Delay, near_reader: asyncio.StreamReader,
                 near_writer: asyncio.StreamWriter) -> None:
    try:
        far_reader, far_writer = await asyncio.open_connection(*target)
    except OSError:
        near_writer.close()
        return
    try:
        await asyncio.gather(_forward(near_reader, far_writer, delay),
                             _forward(far_reader, near_writer, delay))
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        for writer in (near_writer, far_writer):
            writer.close()


async def _commands(delay: Delay) -> None:
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        try:
            delay.seconds = float(line) / 1000.0
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
    delay = Delay(args.delay_ms)

    async def serve() -> None:
        server = await asyncio.start_server(
            lambda r, w: _relay(args.target, delay, r, w), *args.listen)
        print("listening", flush=True)
        async with server:
            await _commands(delay)

    try:
        asyncio.run(serve())
    except RuntimeError:  # the loop stopped by _commands
        pass


class DelayRelay:
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
                raise RuntimeError(f"the delay relay in {self.host.name} did not say {word!r}")
        line = self._process.stdout.readline().strip()
        if line != word:
            self.stop()
            raise RuntimeError(f"the delay relay in {self.host.name} said {line!r}, not {word!r}")

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
