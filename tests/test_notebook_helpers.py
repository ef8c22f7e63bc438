"""The helpers the notebooks import from ``lab/``: timing, settings, images, pages, plots, checks, load.

Each notebook only calls these; if they compute a wrong number, the notebook shows it.
"""

from __future__ import annotations

import threading
import time

import pytest
from flask import render_template
from werkzeug.serving import make_server

from flask_server.app import create_app
from lab import (
    cold_start, concurrency, display, measure, plots, raw_zmq, sample_images, settings, timing, web,
)
from lab.checks import checks_command
from lab.processes import free_port
from model_server.client import ModelServerUnavailable
from model_server.images import decode_image
from model_server.model import LoadTimings
from model_server.protocol import PredictReply, Prediction, ServerInfo, Timings

REPLY = PredictReply(
    [Prediction("tabby <cat>", "n02123045", 0.8), Prediction("tiger cat", "n02123159", 0.15),
     Prediction("lynx", "n02127052", 0.05)],
    "untrained", "resnet50", Timings(2.0, 0.5, 50.0, 52.5),
)


class FakeModelClient:
    """Stands in for ``ModelClient`` inside the web app: answers ``REPLY`` or is down."""

    def __init__(self, down: bool = False):
        self.down = down
        self.address = "tcp://127.0.0.1:1"

    def predict(self, image: bytes, top: int = 3) -> PredictReply:
        if self.down:
            raise ModelServerUnavailable(f"no model server is answering at {self.address}")
        return REPLY

    def ping(self) -> ServerInfo:
        return ServerInfo("resnet50", "untrained", 1)

    def close(self) -> None:
        pass


@pytest.fixture
def web_app_url():
    """The real split web app over HTTP, its model server client replaced by a fake."""
    servers = []

    def serve(down: bool = False) -> str:
        app = create_app({"TESTING": True})
        app.extensions["model_client"] = FakeModelClient(down)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield serve
    for server in servers:
        server.shutdown()


def test_a_summary_gives_median_and_spread() -> None:
    summary = timing.summarise("way", [3.0, 1.0, 2.0, 10.0])
    assert (summary.n, summary.median, summary.fastest, summary.slowest) == (4, 2.5, 1.0, 10.0)
    assert summary.as_row()["median (s)"] == 2.5


def test_a_summary_of_nothing_says_so() -> None:
    with pytest.raises(ValueError, match="no measurements for 'way'"):
        timing.summarise("way", [])


def test_speed_up_divides_the_medians() -> None:
    before, after = timing.summarise("a", [10.0, 12.0, 100.0]), timing.summarise("b", [0.2, 0.3, 0.4])
    assert timing.speed_up(before, after) == pytest.approx(40.0)


def test_time_call_returns_result_and_seconds() -> None:
    result, seconds = timing.time_call(time.sleep, 0.02)
    assert result is None and 0.015 < seconds < 1.0


@pytest.mark.parametrize(("values", "closest"), [
    ({"app": 3.0, "cold": 11.0}, "cold"),  # inside the range wins
    ({"app": 12.0, "cold": 30.0}, "app"),
    ({"app": 4.0, "cold": 40.0}, "cold"),  # 40 s is 1.9x above 21 s; 4 s is 2.5x below 10 s
])
def test_closest_to_range_compares_ratios(values: dict[str, float], closest: str) -> None:
    assert timing.closest_to_range(10, 21, values) == closest


def test_settings_come_from_lab_variables() -> None:
    lab = settings.LabSettings.from_env({"LAB_WEIGHTS": "random", "LAB_SERVER_REQUESTS": "5"})
    assert (lab.weights, lab.server_requests, lab.monolith_requests) == ("random", 5, 3)
    with pytest.raises(ValueError, match="LAB_COLD_STARTS='many' is not a valid int"):
        settings.LabSettings.from_env({"LAB_COLD_STARTS": "many"})


def test_the_original_figures_are_shown_as_they_were_reported() -> None:
    rows = settings.ORIGINAL.as_rows()
    assert [row["seconds per request"] for row in rows] == ["10–21", "~0.3", "~30x"]


def test_sample_images_are_the_same_every_time_and_all_decode(tmp_path) -> None:
    first, second = sample_images.sample_image_bytes(), sample_images.sample_image_bytes()
    assert first == second
    paths = sample_images.sample_images(tmp_path)
    assert [p.name for p in paths] == list(first)
    for path in paths:
        assert decode_image(path.read_bytes()).shape == (224, 224, 3)


def test_result_page_of_the_web_app_is_read_back(web_app_url) -> None:
    response = web.upload(web_app_url(), b"any bytes: the fake model server accepts them", "cat.jpg", 5)
    page = web.read_result_page(response.body)
    assert response.status == 200 and response.seconds > 0
    assert [(p.label, p.wnid) for p in page.predictions] == [(p.label, p.wnid) for p in REPLY.predictions]
    assert [p.probability for p in page.predictions] == pytest.approx([0.8, 0.15, 0.05])
    assert page.weights == "untrained"
    assert page.load_timings is None
    assert page.main_html.startswith("<main>")


def test_result_page_of_the_monolith_gives_its_load_timings() -> None:
    app = create_app({"TESTING": True})
    with app.test_request_context():
        html = render_template(
            "result.html", filename="cat.jpg", preview=None, reply=REPLY, round_trip_ms=4321.0,
            untrained=True, load_timings=LoadTimings(5.25, 1.5, 0.01, 2.75),
        )
    page = web.read_result_page(html)
    assert page.load_timings == {"import_tensorflow": 5.25, "build_model": 1.5, "load_weights": 0.01,
                                 "first_inference": 2.75}


def test_error_page_is_read_back(web_app_url) -> None:
    response = web.upload(web_app_url(down=True), b"x", "cat.jpg", 5)
    page = web.read_result_page(response.body)
    assert response.status == 503
    assert page.error_code == "unavailable"
    assert "no model server is answering" in page.error_message
    assert page.predictions == []


def test_a_failed_request_is_not_timed(web_app_url, tmp_path) -> None:
    image = tmp_path / "cat.jpg"
    image.write_bytes(b"x")
    with pytest.raises(measure.MeasurementFailed, match="answered 503 for cat.jpg: unavailable"):
        measure.through_web_page(web_app_url(down=True), [image], requests=1, timeout=5)


def test_server_stage_medians_split_the_round_trip() -> None:
    timed = [measure.ServerRequest("a.jpg", 0.0600, REPLY), measure.ServerRequest("b.jpg", 0.0700, REPLY)]
    stages = measure.server_stage_medians(timed)
    assert stages["inference"] == 50.0
    assert stages[measure.OUTSIDE_THE_SERVER] == pytest.approx(65.0 - 52.5)


def test_a_cold_start_that_fails_says_why() -> None:
    with pytest.raises(cold_start.ColdStartFailed, match="No such file"):
        cold_start.run_cold_start("/nonexistent/image.jpg", "random", timeout=60)


def test_cold_start_stages_are_in_order_with_titles() -> None:
    rows = cold_start.stage_rows(dict.fromkeys(cold_start.STAGES, 1.0))
    assert [row["stage"] for row in rows] == [cold_start.STAGE_TITLES[s] for s in cold_start.STAGES]
    assert {row["share"] for row in rows} == {f"{1 / len(cold_start.STAGES):.0%}"}


def test_a_raw_request_to_nothing_gives_up_after_its_timeout() -> None:
    started = time.perf_counter()
    with pytest.raises(raw_zmq.NoReply):
        raw_zmq.ask(f"tcp://127.0.0.1:{free_port()}", raw_zmq.original_request(b"x"), timeout=0.3)
    assert time.perf_counter() - started < 2.0


def test_several_clients_at_once_each_get_their_own_replies(model_server) -> None:
    run = concurrency.run_clients(model_server.address, sample_images.sample_images(), workers=2,
                                  clients=3, requests_per_client=2)
    assert len(run.latencies) == 6 and run.throughput > 0
    assert run.as_row()["clients"] == 3


def test_html_escapes_what_came_from_outside() -> None:
    assert "tabby &lt;cat&gt;" in display.predictions_html(REPLY.predictions)
    assert "<script>" not in display.table_html([{"name": "<script>"}])
    assert "Untrained weights" in display.weights_note("untrained")


def test_plots_draw_without_a_display() -> None:
    summaries = [timing.summarise(measure.MONOLITH, [5.0, 6.0]), timing.summarise(measure.WEB_APP, [0.2, 0.3])]
    figures = [
        plots.plot_cold_stages(dict.fromkeys(cold_start.STAGES, 1.0)),
        plots.plot_requests({measure.MONOLITH: [5.0, 6.0]}),
        plots.plot_server_stages({"inference": 50.0}, "one"),
        plots.plot_comparison(summaries),
        plots.plot_speed_ups({"vs the monolith app": 20.0}),
        plots.plot_throughput([{"clients": 1, "rps": 5.0, "workers": 1}], "clients", "rps", "workers"),
    ]
    assert all(figure.axes for figure in figures)


def test_checks_command_selects_one_notebook() -> None:
    command = checks_command("nb03")
    assert command[command.index("-k") + 1] == "nb03"
