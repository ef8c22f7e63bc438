"""``python -m harness.serve``: the model server and the web app together, until Ctrl-C.

The model server listens on its default address and the web app on http://127.0.0.1:5000 unless
told otherwise; both are stopped when this command ends.
"""

from __future__ import annotations

import argparse

from harness.launch import start_model_server, start_web_app
from harness.processes import START_TIMEOUT_S
from model_server.protocol import DEFAULT_ADDRESS
from model_server.serving.lifecycle import ServerStartError, stop_on_signals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.serve", description=__doc__)
    parser.add_argument("--weights", default="auto", help="auto, imagenet, random or an .h5 path")
    parser.add_argument("--model-port", type=int, default=int(DEFAULT_ADDRESS.rsplit(":", 1)[1]))
    parser.add_argument("--web-port", type=int, default=5000)
    args = parser.parse_args(argv)

    stop = stop_on_signals()
    try:
        model_server = start_model_server(args.weights, port=args.model_port, timeout=START_TIMEOUT_S)
        print(f"model server ready at {model_server.address} (log: {model_server.log_path})")
        web_app = start_web_app(model_server.address, port=args.web_port)
        print(f"web app ready at {web_app.address}/ (log: {web_app.log_path}); Ctrl-C stops both")
    except ServerStartError as error:
        print(error)
        return 1
    try:
        while not stop.wait(1.0):
            for server in (model_server, web_app):
                if not server.running():
                    print(f"{server.name} stopped unexpectedly:\n{server.log_tail()}")
                    return 1
    finally:
        web_app.stop()
        model_server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
