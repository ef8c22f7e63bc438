"""The servers of one run: each started the first time a system asks for it, all stopped at its end.

Several rows share a server (our model server answers the client in each form and sits behind both
web apps), so a run starts each once, on demand, and its ``ExitStack`` stops them all.
"""

from __future__ import annotations

import contextlib

from benchmarks.systems import launch
from harness.bare import BareModelProcess, bare_name
from harness.processes import ServerProcess
from model_server.client import ModelClient
from model_server.protocol import F32, TENSORFLOW

#: Our model server as the "our server" rows run it, and cut down to one worker and no batching.
OURS_SETTINGS = {"workers": 8, "max_batch": 8}
ONE_WORKER_SETTINGS = {"workers": 1, "max_batch": 1, "binary": False}


class Servers:
    """The servers of a run, each started the first time a system asks for it, all stopped at the end."""

    def __init__(self, stack: contextlib.ExitStack):
        self.stack = stack
        self._models: dict[str, ServerProcess] = {}
        self._webs: dict[str, ServerProcess] = {}
        self._bare: dict[str, BareModelProcess] = {}

    def model(self, runtime: str = TENSORFLOW, precision: str = F32, one_worker: bool = False) -> ServerProcess:
        key = "one worker" if one_worker else f"{runtime} {precision}"
        if key not in self._models:
            settings = ONE_WORKER_SETTINGS if one_worker else OURS_SETTINGS
            extra = () if runtime == TENSORFLOW else launch.runtime_args(runtime, precision)
            self._models[key] = self.stack.enter_context(launch.model_server(
                int(settings["workers"]), int(settings["max_batch"]), extra,
                name="bench-one-worker" if one_worker else f"bench-{runtime}-{precision}"))
        return self._models[key]

    def client(self, runtime: str = TENSORFLOW, precision: str = F32, one_worker: bool = False,
               binary: bool = True) -> ModelClient:
        """A client of one of the run's model servers, closed at the end of the run."""
        return self.stack.enter_context(launch.model_client(self.model(runtime, precision, one_worker), binary))

    def web(self, wsgi_server: str, runtime: str = TENSORFLOW, precision: str = F32) -> ServerProcess:
        """The web app under ``wsgi_server``, in front of our model server on ``runtime``."""
        key = f"{wsgi_server} {runtime} {precision}"
        if key not in self._webs:
            name = f"bench-web-{wsgi_server}" + ("" if runtime == TENSORFLOW else f"-{runtime}-{precision}")
            self._webs[key] = self.stack.enter_context(
                launch.web_app(self.model(runtime, precision), wsgi_server, name))
        return self._webs[key]

    def bare(self, runtime: str = TENSORFLOW, precision: str = F32) -> BareModelProcess:
        name = bare_name(runtime, precision)
        if name not in self._bare:
            self._bare[name] = self.stack.enter_context(BareModelProcess(runtime, precision))
        return self._bare[name]

    @property
    def bare_models(self) -> list[BareModelProcess]:
        return list(self._bare.values())
