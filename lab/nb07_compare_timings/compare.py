"""Notebook 07: the learner's before and after beside production, timed and compared with their code.

The rows (``ways``) are the learner's own parts where written: ``handle_upload`` (notebook 02) in a
cold process and in a running monolith (``lab.monolith.handler_app``), their ``resnet_model_server``
asked by their test client, and by their ``app.py`` over HTTP (notebooks 04 and 06); beside them,
production: ``flask_server.monolith``, ``python -m model_server`` with ``ModelClient``, and
``flask_server.app``. A row whose parts are not written yet says which, and is not measured: the
reference answers never stand in for the learner's servers here.

The learner writes the timing loop (``time_requests``), ``median`` and ``speed_up`` in
``exercises/nb07_compare.py``; once written, the notebook's numbers come from them (the reference
answers until then, and ``lab.learner.answers`` says which). A written ``median`` or ``speed_up`` may
still be wrong or raise: then each number says so beside it and the lab's own value stands in,
so that the notebook runs on and the learner sees where theirs differs.
"""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from harness import launch, processes
from harness.processes import ServerProcess
from lab.latencies import Summary
from lab.learner import answers
from lab.monolith.cold_start import run_handler_cold
from lab.nb06_flask_client.upload_timing import upload_call
from lab.settings import LabSettings
from model_server.client import ModelClient

MODULE = "nb07_compare"
#: How far the learner's number may be from the lab's before it is called different (float rounding).
RELATIVE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Arithmetic:
    """The two functions the notebook computes with, whoever wrote them."""

    median: Callable[[Sequence[float]], float]
    speed_up: Callable[[Sequence[float], Sequence[float]], float]


def learners_arithmetic(quiet: bool = False) -> Arithmetic:
    """The learner's ``median`` and ``speed_up`` where written, else the reference ones (printed)."""
    median, speed_up = _learners("median", "speed_up", quiet=quiet)
    return Arithmetic(median, speed_up)


def _learners(*names: str, quiet: bool = False) -> list[Any]:
    """Each of ``names`` from ``exercises/nb07_compare.py`` if written, else from ``solutions/``
    (printed); each module run once, afresh, so that the learner's latest edits count."""
    packages = {name: answers.whose(MODULE, name, quiet=quiet) for name in names}
    modules = {package: _fresh(package) for package in dict.fromkeys(packages.values())}
    return [getattr(modules[packages[name]], name) for name in names]


def _fresh(package: str) -> ModuleType:
    """``<package>.nb07_compare`` run afresh, once (importing it the first time, reloading it after)."""
    name = f"{package}.{MODULE}"
    if name in sys.modules:
        return importlib.reload(sys.modules[name])
    return importlib.import_module(name)


@dataclass(frozen=True)
class Checked:
    """A number from the learner's function, and the lab's when the two disagree or theirs failed."""

    value: float
    problem: str | None = None

    def text(self, digits: int = 3) -> str:
        shown = f"{self.value:.{digits}f}"
        return shown if self.problem is None else f"{shown} ({self.problem})"


def checked(name: str, theirs: Callable[..., Any], ours: float, *args: Sequence[float]) -> Checked:
    """Call ``theirs``; a failure or a number other than ``ours`` is reported and ``ours`` used."""
    try:
        value = theirs(*(list(arg) for arg in args))
    except Exception as error:  # the learner's code: show what went wrong, carry on
        return Checked(ours, f"{name} raised {type(error).__name__}: {error}; the lab's value shown")
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isclose(
            value, ours, rel_tol=RELATIVE_TOLERANCE):
        return Checked(ours, f"{name} gave {value!r}, the lab {ours:.6g}; the lab's value shown")
    return Checked(float(value))


def summary_rows(summaries: Sequence[Summary], arithmetic: Arithmetic) -> list[dict[str, Any]]:
    """The table of notebook 07, its median column computed by ``arithmetic.median``."""
    rows = []
    for summary in summaries:
        row = summary.as_row()
        row["median (s)"] = checked("median", arithmetic.median, summary.median, summary.samples).text()
        rows.append(row)
    return rows


def speed_ups(pairs: Mapping[str, tuple[Summary, Summary]], arithmetic: Arithmetic) -> dict[str, Checked]:
    """``label → (before, after)`` as ``label → how many times faster``, by ``arithmetic.speed_up``."""
    return {label: checked("speed_up", arithmetic.speed_up, before.median / after.median,
                           before.samples, after.samples)
            for label, (before, after) in pairs.items()}


# --- the rows: the learner's before and after, and production beside them ---

#: What each of the learner's parts needs written, by module: the names their checks cover.
HANDLER = {"nb02_monolith": ("time_call", "handle_upload")}
SERVER = {"resnet_model_server": ("envelope_and_body", "RequestHandler", "Server")}
TEST_CLIENT = {"test_client": ("encode_request", "read_reply", "request_with_retries")}
APP = {"app": ("create_app", "ask_model_server", "uploader")}

NOT_WRITTEN = "not written yet: "
YOUR_COLD_HANDLER = "yours: handle_upload, a cold process per request"
YOUR_MONOLITH = "yours: handle_upload in a running monolith"
YOUR_SERVER = "yours: resnet_model_server + test_client (ZeroMQ)"
YOUR_APP = "yours: resnet_model_server + app.py (HTTP)"
PRODUCTION_MONOLITH = "production: flask_server.monolith (model built per request)"
PRODUCTION_SERVER = "production: model_server + ModelClient (ZeroMQ)"
PRODUCTION_APP = "production: model_server + flask_server.app (HTTP)"


def learners_time_requests(quiet: bool = False) -> Callable[..., list[float]]:
    """The learner's ``time_requests`` where written, else the reference one (printed)."""
    (time_requests,) = _learners("time_requests", quiet=quiet)
    return time_requests


def not_written(*parts: Mapping[str, Sequence[str]], directory: Path | None = None) -> str | None:
    """``"not written yet: exercises/app.py uploader"`` for the parts still stubs, or ``None``
    (in ``directory``; by default the ``exercises`` package Python imports, as ``lab.learner.answers``)."""
    missing = []
    for part in parts:
        for module, names in part.items():
            left = [stub for name in names for stub in answers.unwritten(module, name, directory)]
            if left:
                missing.append(f"exercises/{module}.py {', '.join(left)}")
    return f"{NOT_WRITTEN}{'; '.join(missing)}" if missing else None


@dataclass(frozen=True)
class Way:
    """One row of the table: how to send one image (``call(path)``), or why it cannot run yet."""

    label: str
    requests: int
    warmup: int
    call: Callable[[Path], Any] | None = None
    #: ``"not written yet: …"``: the row is shown, not measured.
    missing: str | None = None
    #: Instead of ``call``: a context that opens a client, gives its call, and closes the client.
    opens: Callable[[], AbstractContextManager[Callable[[Path], Any]]] | None = None

    @contextmanager
    def connected(self) -> Iterator[Callable[[Path], Any]]:
        """The call to time, with whatever client it needs open until the block ends."""
        if self.missing is not None:
            raise RuntimeError(f"{self.label}: {self.missing}")
        with (self.opens() if self.opens is not None else nullcontext(self.call)) as call:
            yield call


@dataclass
class Servers:
    """What notebook 07 started: the learner's servers where their parts are written, and production's."""

    your_monolith: ServerProcess | None
    your_server: ServerProcess | None
    your_app: ServerProcess | None
    production_monolith: ServerProcess
    production_server: ServerProcess
    production_app: ServerProcess
    #: Why each of the learner's rows cannot run yet (``None``: it can).
    missing: dict[str, str | None]
    #: The weights production's model server answers with (what ``display.weights_note`` shows).
    weights: str | None = None

    def __iter__(self) -> Iterator[ServerProcess]:
        return iter(s for s in (self.your_monolith, self.your_server, self.your_app, self.production_monolith,
                                self.production_server, self.production_app) if s is not None)


def start_servers(settings: LabSettings, directory: Path | None = None) -> Servers:
    """Start production's three servers, and the learner's where written; print what runs whose code."""
    missing = {YOUR_COLD_HANDLER: not_written(HANDLER, directory=directory),
               YOUR_MONOLITH: not_written(HANDLER, directory=directory),
               YOUR_SERVER: not_written(SERVER, TEST_CLIENT, directory=directory),
               YOUR_APP: not_written(SERVER, APP, directory=directory)}
    for label, why in missing.items():
        print(f"{label}: {why or 'your code'}")
    with processes.started_together():  # launched at once, ready in about the time of the slowest
        your_monolith = start_handler_monolith(settings.weights) if missing[YOUR_MONOLITH] is None else None
        your_server = (launch.start_original_model_server(answers.LEARNER, settings.weights,
                                                             name="your-model-server")
                       if not_written(SERVER, directory=directory) is None else None)
        your_app = (launch.start_original_web_app(your_server.address, answers.LEARNER,
                                                     name="your-web-app")
                    if your_server is not None and missing[YOUR_APP] is None else None)
        production_server = launch.start_model_server(settings.weights)
        started = [your_monolith, your_server, your_app, launch.start_monolith(settings.weights),
                   production_server, launch.start_web_app(production_server.address)]
    with ModelClient(started[4].address, timeout=settings.request_timeout_s) as client:
        weights = client.ping().weights
    return Servers(*started, missing, weights)


def start_handler_monolith(weights: str, package: str = answers.LEARNER,
                           name: str = "your-monolith") -> ServerProcess:
    """``lab.monolith.handler_app`` (notebook 02's ``handle_upload`` from ``package``) on a free port."""
    env = {"FLASK_MODEL_WEIGHTS": weights, "FLASK_HANDLER_PACKAGE": package}
    return launch.start_wsgi_app("lab.monolith.handler_app:create_app", name, env, None,
                                    processes.START_TIMEOUT_S, "flask")


def test_client_call(test_client: Any, address: str, timeout_s: float) -> Callable[[Path], Any]:
    """One request from the learner's test client (``encode_request``, ``request_with_retries`` with
    no retry, so that a lost reply fails rather than hides in the timing, ``read_reply``)."""
    def ask(image: Path) -> Any:
        reply = test_client.request_with_retries(address, test_client.encode_request(image.read_bytes()),
                                                 timeout_s, 0)
        return test_client.read_reply(reply)
    return ask


@contextmanager
def model_client_call(address: str, timeout_s: float) -> Iterator[Callable[[Path], Any]]:
    """One ``ModelClient`` for all of a row's requests, closed at the end, as an application keeps one."""
    with ModelClient(address, timeout=timeout_s) as client:
        yield lambda image: client.predict(image.read_bytes())


def ways(servers: Servers, settings: LabSettings) -> list[Way]:
    """The table's rows, the learner's first, each with its number of requests and warm-up requests."""
    timeout, slow = settings.request_timeout_s, settings.monolith_timeout_s
    monoliths, many, warmup = settings.monolith_requests, settings.server_requests, settings.warmup_requests

    def yours(label: str, requests: int, warmups: int, make_call: Callable[[], Callable[[Path], Any]]) -> Way:
        why = servers.missing[label]
        if why:
            return Way(label, requests, warmups, missing=why)
        return Way(label, requests, warmups, make_call())

    rows = [
        yours(YOUR_COLD_HANDLER, settings.cold_starts, 0,
              lambda: lambda image: run_handler_cold(image, settings.weights, answers.LEARNER, slow)),
        yours(YOUR_MONOLITH, monoliths, warmup, lambda: upload_call(servers.your_monolith.address, slow)),
        yours(YOUR_SERVER, many, warmup, lambda: test_client_call(
            answers.load(answers.LEARNER, "test_client"), servers.your_server.address, timeout)),
        yours(YOUR_APP, many, warmup, lambda: upload_call(servers.your_app.address, timeout)),
        Way(PRODUCTION_MONOLITH, monoliths, warmup, upload_call(servers.production_monolith.address, slow)),
        Way(PRODUCTION_SERVER, many, warmup,
            opens=lambda: model_client_call(servers.production_server.address, timeout)),
        Way(PRODUCTION_APP, many, warmup, upload_call(servers.production_app.address, timeout)),
    ]
    return rows


def table_rows(ways: Sequence[Way], summaries: Mapping[str, Summary],
               arithmetic: Arithmetic) -> list[dict[str, Any]]:
    """One row per way, in order: its summary (median by ``arithmetic``), or why it was not measured."""
    measured = dict(zip(summaries, summary_rows(list(summaries.values()), arithmetic)))
    empty = {key: "" for key in ("requests", "median (s)", "fastest (s)", "slowest (s)")}
    return [measured.get(way.label)
            or {"way": way.label, **empty, "median (s)": way.missing or "not measured"}
            for way in ways]


#: The speed-up the learner predicts: their web app and model server against their monolith.
YOUR_SPEED_UP = "yours: app.py + resnet_model_server vs handle_upload in a running monolith"
#: The speed-ups the notebook shows: ``label → (before, after)``, the learner's and production's.
SPEED_UPS = {
    YOUR_SPEED_UP: (YOUR_MONOLITH, YOUR_APP),
    "yours: app.py + resnet_model_server vs handle_upload in a cold process": (YOUR_COLD_HANDLER, YOUR_APP),
    "production: flask_server.app + model_server vs flask_server.monolith":
        (PRODUCTION_MONOLITH, PRODUCTION_APP),
}


def speed_up_pairs(
    summaries: Mapping[str, Summary], ways: Sequence[Way]
) -> tuple[dict[str, tuple[Summary, Summary]], dict[str, str]]:
    """The pairs of ``SPEED_UPS`` whose two rows were measured, and for the others why not."""
    missing = {way.label: way.missing for way in ways if way.missing}
    pairs, why_not = {}, {}
    for label, (before, after) in SPEED_UPS.items():
        if before in summaries and after in summaries:
            pairs[label] = (summaries[before], summaries[after])
            continue
        unmeasured = [row for row in (before, after) if row not in summaries]
        unwritten = [missing[row].removeprefix(NOT_WRITTEN) for row in unmeasured if missing.get(row)]
        parts = dict.fromkeys(part for parts in unwritten for part in parts.split("; "))
        why_not[label] = (NOT_WRITTEN + "; ".join(parts) if parts
                          else f"{' and '.join(unmeasured)} not measured")
    return pairs, why_not


def direct_against_http(summaries: Mapping[str, Summary]) -> list[str]:
    """For each model server measured both ways, its direct ZeroMQ median beside the web app's."""
    lines = []
    for direct, through_app in ((YOUR_SERVER, YOUR_APP), (PRODUCTION_SERVER, PRODUCTION_APP)):
        if direct in summaries and through_app in summaries:
            lines.append(f"{direct.split(':')[0]}: median {summaries[direct].median * 1000:.0f} ms direct "
                         f"(ZeroMQ), {summaries[through_app].median * 1000:.0f} ms through the web app "
                         "(HTTP, the upload form, the page)")
    return lines
