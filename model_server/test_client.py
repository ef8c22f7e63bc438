"""``python -m model_server.test_client IMAGE…``: a test client of our own.

Sends each image to the model server, prints its top predictions and the round-trip time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .client import ModelClient
from .curve import ClientKeys
from .keys import CLIENT_SECRET_KEY_VARIABLE, SERVER_PUBLIC_KEY_VARIABLE, KeyFileError
from .protocol import DEFAULT_ADDRESS, DEFAULT_TOP, ServerError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model_server.test_client", description=__doc__)
    parser.add_argument("images", nargs="+", type=Path, help="image files to classify")
    parser.add_argument("--address", default=os.environ.get("MODEL_SERVER_ADDRESS", DEFAULT_ADDRESS),
                        help="the model server (default: %(default)s)")
    parser.add_argument("--top", type=int, default=DEFAULT_TOP, help="classes to show per image")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait per attempt")
    parser.add_argument("--secret-key", default=os.environ.get(CLIENT_SECRET_KEY_VARIABLE),
                        metavar="FILE", help="this client's CURVE secret key, when the server requires keys")
    parser.add_argument("--server-public-key", default=os.environ.get(SERVER_PUBLIC_KEY_VARIABLE),
                        metavar="FILE", help="the model server's public key (server.key)")
    args = parser.parse_args(argv)
    try:
        keys = ClientKeys.from_files(args.secret_key, args.server_public_key)
    except KeyFileError as error:
        parser.error(str(error))

    failures = 0
    with ModelClient(args.address, timeout=args.timeout, keys=keys) as client:
        for path in args.images:
            try:
                image = path.read_bytes()
            except OSError as error:
                print(f"{path}: cannot read: {error.strerror}", file=sys.stderr)
                failures += 1
                continue
            started = time.perf_counter()
            try:
                reply = client.predict(image, top=args.top)
            except ServerError as error:
                print(f"{path}: {error.message} [{error.code}]", file=sys.stderr)
                failures += 1
                continue
            elapsed_ms = (time.perf_counter() - started) * 1000
            in_server = f" ({reply.timings.total:.1f} ms in the server)" if reply.timings else ""
            print(f"{path}: {elapsed_ms:.1f} ms round trip{in_server}, weights {reply.weights or 'not said'}")
            for prediction in reply.predictions:
                print(f"  {prediction.probability:7.2%}  {prediction.label} ({prediction.wnid})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
