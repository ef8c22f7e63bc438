"""The notebooks' settings: defaults here, overridden by ``LAB_*`` environment variables.

Every notebook reads them once, in its first cells. ``LAB_WEIGHTS`` is the one most people touch:
``auto`` (the default) gives the real ImageNet weights when the Keras cache has them or they can be
downloaded, and untrained weights otherwise; CI sets ``LAB_WEIGHTS=random`` so that nothing is
attempted over the network. The request counts are small on purpose: each notebook should run in a
few minutes on two cores.

The original write-up's figures live here too, as the only numbers the notebooks do not measure.
"""

from __future__ import annotations

from dataclasses import dataclass

from model_server.environment import settings_from_env

ENV_PREFIX = "LAB_"


@dataclass(frozen=True)
class LabSettings:
    #: Weights for every model the notebooks start: auto | imagenet | random | path to an .h5 file.
    weights: str = "auto"
    #: Uploads timed through the monolith (each one builds ResNet50: seconds apiece).
    monolith_requests: int = 3
    #: Fresh interpreters timed, each doing the monolith's whole job once.
    cold_starts: int = 3
    #: Requests timed through the model server and through the web app.
    server_requests: int = 20
    #: Requests timed at each number of clients at once (notebook 08).
    load_requests: int = 48
    #: Requests sent before timing starts (the first one opens connections).
    warmup_requests: int = 1
    #: Seconds one request to the model server or the web app may take.
    request_timeout_s: float = 10.0
    #: Seconds one monolith upload or cold process may take (it imports TensorFlow).
    monolith_timeout_s: float = 180.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> LabSettings:
        """Defaults overridden by ``LAB_WEIGHTS``, ``LAB_SERVER_REQUESTS`` and so on."""
        return settings_from_env(cls, ENV_PREFIX, environ)


@dataclass(frozen=True)
class OriginalFigures:
    """What the original write-up reported; shown beside our measurements, never in place of them."""

    #: One request through the Flask app that loaded ResNet50 per request.
    before_s: tuple[float, float] = (10.0, 21.0)
    #: One request through the Flask app as a client of the ZeroMQ model server.
    after_s: float = 0.3
    speed_up: float = 30.0

    def as_rows(self) -> list[dict[str, str]]:
        """The figures as table rows, to stand beside a table of our own measurements."""
        low, high = self.before_s
        return [
            {"way": "before: model loaded per request", "seconds per request": f"{low:g}–{high:g}"},
            {"way": "after: Flask app + ZeroMQ model server", "seconds per request": f"~{self.after_s:g}"},
            {"way": "speed-up", "seconds per request": f"~{self.speed_up:g}x"},
        ]


ORIGINAL = OriginalFigures()


def load() -> LabSettings:
    return LabSettings.from_env()
