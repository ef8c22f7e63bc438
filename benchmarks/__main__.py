"""``python -m benchmarks``: every way of serving ResNet50, the same images, one machine, one run.

Rows: the bare model (the limit), the original design (the write-up's server, a thread per
request, asked by its own client in its own format), our model server cut down to one worker and
no batching, our model server (through the client with the file, as base64 JSON and as decoded
pixels, and through the web app under waitress and under Flask's own server), the model as a
global inside the web process, the monolith and, when installed, Ray Serve; with the [openvino]
extra, our server on OpenVINO f32 (and bf16 where the CPU has it), the file and the pixels, each
against its own bare limit.

Every system is started once and measured in interleaved rounds (``rounds/``): per round, for
each number of clients, one short burst of each system and of each bare model, in an order that
rotates from round to round. Each ratio is computed within a round; the report (``report/``)
gives the median over rounds and its min–max. Then, on the same servers: one request at a time
in pairs with the bare model and the image sizes; then, on servers of their own, the broker with
big requests, the open loop and each runtime's start to ready (``sections/``). ``--only`` picks
systems and sections by words of their names; sections alone (``--only broker "open loop"``)
are stored beside what an earlier run left in ``--out``'s results.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.report.files import RESULTS_DIR, summarize, write_report
from benchmarks.rounds.entries import PER_CLIENT
from benchmarks.run import REQUESTS, ROUNDS, run
from benchmarks.sections import image_sizes, open_loop, overhead


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="interleaved rounds (default: %(default)s)")
    parser.add_argument("--requests", type=int, default=REQUESTS,
                        help=f"requests per burst; at least {PER_CLIENT} per client (default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="one round, 1 and 8 clients, short bursts, no overhead pairs: a smoke test")
    parser.add_argument("--only", nargs="*",
                        help="run only systems and sections (overhead, image sizes, broker, open loop) "
                             "whose name contains one of these words; sections alone keep what --out "
                             "holds of the rest")
    parser.add_argument("--overhead-rounds", type=int, default=overhead.ROUNDS,
                        help="rounds of the paired overhead measurement; 0 skips it")
    parser.add_argument("--image-size-rounds", type=int, default=image_sizes.ROUNDS,
                        help="rounds of the image sizes section; 0 skips it")
    open_loop.add_arguments(parser)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--report-only", action="store_true",
                        help="only redo the table, ratios and plot from --out's results.json")
    args = parser.parse_args(argv)
    if args.report_only:
        results = json.loads((args.out / "results.json").read_text())
        write_report(summarize(results), args.out)
    else:
        run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
