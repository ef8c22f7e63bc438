"""The helpers the notebooks import from ``lab/``: latencies, settings, images, pages, plots, checks, load.

Each notebook only calls these; if they compute a wrong number, the notebook shows it.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from fakes import REPLY, web_apps_with_fake_model
from harness import http, sample_images
from harness.bare import measure_in_subprocess
from harness.load import LoadResult
from harness.sample_images import photo_jpegs
from harness.stats import MeasurementFailed
from lab import latencies, settings
from lab.learner.checks import checks_command
from lab.monolith import cold_start
from lab.nb02_monolith import request_times
from lab.nb08_going_further import load_levels
from lab.nb09_appendix_wire_and_workers import remote_workers, wire_formats
from lab.show import display, plots
from model_server.images import decode_image

#: What the tests upload: the web app decodes each upload itself (to send the model its pixels).
SMALL_JPEG = photo_jpegs(1, (64, 48))[0]


@pytest.fixture
def web_app_with_fake_model():
    """``web_app_with_fake_model("down")``: the URL of the real split web app over real HTTP,
    its model server client a ``fakes.FakeModelClient`` (no TensorFlow, no model server)."""
    with web_apps_with_fake_model() as serve:
        yield serve


def test_a_summary_gives_median_and_spread() -> None:
    summary = latencies.summarise("way", [3.0, 1.0, 2.0, 10.0])
    assert (summary.n, summary.median, summary.fastest, summary.slowest) == (4, 2.5, 1.0, 10.0)
    assert summary.as_row()["median (s)"] == 2.5


def test_a_summary_of_nothing_says_so() -> None:
    with pytest.raises(ValueError, match="no measurements for 'way'"):
        latencies.summarise("way", [])


@pytest.mark.parametrize(("values", "closest"), [
    ({"app": 3.0, "cold": 11.0}, "cold"),  # inside the range wins
    ({"app": 12.0, "cold": 30.0}, "app"),
    ({"app": 4.0, "cold": 40.0}, "cold"),  # 40 s is 1.9x above 21 s; 4 s is 2.5x below 10 s
])
def test_closest_to_range_compares_ratios(values: dict[str, float], closest: str) -> None:
    assert request_times.closest_to_range(10, 21, values) == closest


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


@pytest.mark.parametrize("file_format", ["JPEG", "PNG"])
def test_a_photo_has_the_size_and_format_asked_for_and_the_same_bytes_every_time(file_format) -> None:
    image = sample_images.photo((192, 108), file_format, seed=3)
    opened = Image.open(io.BytesIO(image))
    assert (opened.format, opened.size) == (file_format, (192, 108))
    assert image == sample_images.photo((192, 108), file_format, seed=3)
    assert image != sample_images.photo((192, 108), file_format, seed=4)


def test_photos_are_distinct_and_a_longer_list_begins_with_a_shorter_one() -> None:
    three = sample_images.photos(3, (64, 48))
    assert len(set(three)) == 3
    assert sample_images.photos(2, (64, 48)) == three[:2]


def test_the_page_a_notebook_shows_is_the_main_element(web_app_with_fake_model) -> None:
    response = http.upload(web_app_with_fake_model(), SMALL_JPEG, "cat.jpg", 5)
    assert response.status == 200 and response.seconds > 0
    shown = http.main_element(response.body)
    assert shown.startswith("<main>") and shown.endswith("</main>")
    assert "tabby &lt;cat&gt;" in shown and "<link" not in shown


def test_an_api_answer_is_read_back(web_app_with_fake_model) -> None:
    answer = http.read_answer(http.predict_json(web_app_with_fake_model(), SMALL_JPEG, "cat.jpg", 5))
    assert answer.predictions == REPLY.predictions
    assert answer.weights == REPLY.weights
    assert answer.load_timings is None and answer.error_code is None


def test_an_api_error_is_read_back(web_app_with_fake_model) -> None:
    response = http.predict_json(web_app_with_fake_model("down"), SMALL_JPEG, "cat.jpg", 5)
    answer = http.read_answer(response)
    assert response.status == 503
    assert answer.error_code == "unavailable"
    assert "no model server is answering" in answer.error_message
    assert answer.predictions == []


def test_requests_through_the_api_are_timed_one_row_each(web_app_with_fake_model, tmp_path) -> None:
    images = [tmp_path / "a.jpg", tmp_path / "b.jpg"]
    for image in images:
        image.write_bytes(SMALL_JPEG)
    timed = request_times.through_web_api(web_app_with_fake_model(), images, requests=3, timeout=5, warmup=1)
    assert [request.filename for request in timed] == ["a.jpg", "b.jpg", "a.jpg"]
    assert all(request.seconds > 0 and request.answer.predictions == REPLY.predictions for request in timed)
    rows = request_times.web_request_rows(timed)
    assert [row["request"] for row in rows] == [1, 2, 3]
    assert set(rows[0]) == {"request", "image", "seconds"}, "the split app has no loading stages"


def test_the_monoliths_loading_stages_become_columns() -> None:
    stages = {"import_tensorflow": 5.25, "build_model": 1.5, "load_weights": 0.01, "first_inference": 2.75}
    timed = [request_times.WebRequest("cat.jpg", 9.6, http.ApiAnswer(REPLY.predictions, load_timings=stages))]
    (row,) = request_times.web_request_rows(timed)
    for stage, seconds in stages.items():
        assert row[cold_start.STAGE_TITLES[stage]] == seconds


def test_a_failed_request_is_not_timed(web_app_with_fake_model, tmp_path) -> None:
    image = tmp_path / "cat.jpg"
    image.write_bytes(SMALL_JPEG)
    with pytest.raises(MeasurementFailed, match=r"answered 503 for cat\.jpg: unavailable"):
        request_times.through_web_api(web_app_with_fake_model("down"), [image], requests=1, timeout=5)


def test_a_cold_start_that_fails_says_why() -> None:
    with pytest.raises(cold_start.ColdStartFailed, match="No such file"):
        cold_start.run_cold_start("/nonexistent/image.jpg", "random", timeout=60)


def test_cold_start_stages_are_in_order_with_titles() -> None:
    rows = cold_start.stage_rows(dict.fromkeys(cold_start.STAGES, 1.0))
    assert [row["stage"] for row in rows] == [cold_start.STAGE_TITLES[s] for s in cold_start.STAGES]
    assert {row["share"] for row in rows} == {f"{1 / len(cold_start.STAGES):.0%}"}


BARE = load_levels.BareModel.from_measurement({
    "latency_ms": 50.0, "best_batch": "8", "best_throughput": 40.0, "decode_ms": 3.0,
    "batches": {"1": {"ms_per_batch": 50.0, "throughput": 20.0},
                "8": {"ms_per_batch": 200.0, "throughput": 40.0}},
})


def _level(server: str, clients: int, throughput: float, median_ms: float,
           batches: dict[int, int]) -> load_levels.LoadLevel:
    result = LoadResult(clients, sum(batches.values()), 0, 1.0, median_ms, median_ms, median_ms, throughput)
    return load_levels.LoadLevel(server, result, batches, {"host:1": sum(batches.values())})


def test_every_timed_reply_under_load_is_counted_with_its_batch_and_worker(model_server) -> None:
    levels = load_levels.under_load("ours", model_server.address, photo_jpegs(3), levels=(1, 3),
                                    requests=6)
    assert [level.clients for level in levels] == [1, 3]
    for level in levels:
        assert level.result.errors == 0 and level.result.throughput > 0
        assert sum(level.batches.values()) == level.result.requests == 6, "warm-ups counted or replies lost"
        assert all(1 <= size <= 8 for size in level.batches)
        assert [worker.rsplit(":", 1)[1] for worker in level.workers] == [str(model_server.pid)]
    assert levels[1].as_row()["batch sizes seen (size×replies)"] == load_levels.batch_counts_text(
        levels[1].batches)


def test_requests_per_load_level_come_from_the_lab_settings(model_server, monkeypatch) -> None:
    monkeypatch.setenv("LAB_LOAD_REQUESTS", "3")
    (level,) = load_levels.under_load("ours", model_server.address, photo_jpegs(1), levels=(1,))
    assert level.result.requests == 3


def test_a_load_run_against_no_server_fails_and_says_why(dead_address) -> None:
    with pytest.raises(MeasurementFailed, match="no model server is answering"):
        load_levels.under_load("nobody", dead_address, photo_jpegs(1), levels=(1,), requests=2, timeout=1.0)


def test_batch_counts_read_as_size_times_replies() -> None:
    assert load_levels.batch_counts_text({8: 16, 1: 3}) == "1×3, 8×16"
    assert _level("ours", 8, 30.0, 200.0, {1: 2, 4: 4, 8: 2}).mean_batch == (2 + 16 + 16) / 8


def test_ours_is_set_beside_one_worker_at_the_same_number_of_clients() -> None:
    one_worker = [_level("one worker", c, 20.0, 50.0 * c, {1: 4}) for c in (1, 8)]
    ours = [_level("ours", c, 20.0 * c, 50.0, {c: 4}) for c in (1, 4, 8)]
    rows = load_levels.side_by_side(one_worker, ours)
    assert [row["clients"] for row in rows] == [1, 8]
    assert rows[1]["throughput: ours ÷ 1 worker"] == 8.0
    assert rows[1]["ours: images per forward pass"] == 8.0


def test_the_bare_model_is_the_limit_each_level_is_divided_by() -> None:
    assert BARE.batches == {1: (50.0, 20.0), 8: (200.0, 40.0)} and BARE.best_batch == 8
    (row,) = load_levels.against_limit([_level("ours", 8, 30.0, 80.0, {8: 4})], BARE)
    assert row["÷ bare best"] == 0.75
    assert BARE.batch_one_throughput == 20.0 and BARE.batching_gain == 2.0
    assert row["median − bare batch-1 (ms)"] == 30.0


def test_a_server_faster_than_the_bare_model_is_called_out() -> None:
    plausible = _level("ours", 8, 39.0, 300.0, {8: 8})
    too_fast = _level("ours", 1, 45.0, 30.0, {1: 8})
    assert load_levels.impossible_results([plausible], BARE) == []
    signs = load_levels.impossible_results([plausible, too_fast], BARE)
    assert len(signs) == 2 and "above the bare model's best" in signs[0] and "below" in signs[1]


def test_the_bare_model_subprocess_fails_with_its_error_message() -> None:
    with pytest.raises(MeasurementFailed, match="--batch-sizes must include 1"):
        measure_in_subprocess(repeats=1, batch_sizes=(2,))


def test_the_bare_model_is_timed_in_its_own_process() -> None:
    bare = load_levels.measure_bare_model(repeats=1, batch_sizes=(1, 2))
    assert set(bare.batches) == {1, 2} and bare.best_batch in (1, 2)
    assert bare.latency_ms == bare.batches[1][0] > 0
    assert bare.best_throughput == max(throughput for _, throughput in bare.batches.values())


def test_base64_json_puts_a_third_more_bytes_on_the_wire() -> None:
    image = photo_jpegs(1)[0]
    ratio = wire_formats.request_bytes(image, binary=False) / wire_formats.request_bytes(image, binary=True)
    assert 1.3 < ratio < 1.4


def test_wire_formats_take_turns_request_by_request(model_server) -> None:
    binary, base64_json = wire_formats.compare_wire_formats(model_server.address, photo_jpegs(2), requests=3)
    assert (binary.binary, base64_json.binary) == (True, False)
    assert len(binary.latencies_ms) == len(base64_json.latencies_ms) == 3
    assert base64_json.request_bytes > binary.request_bytes
    assert binary.as_row()["wire format"] == wire_formats.BINARY_FRAMES


def test_the_wire_format_difference_is_taken_pair_by_pair() -> None:
    binary = wire_formats.WireFormatRun("two frames", True, (50.0, 90.0, 70.0), 40_000)
    base64_json = wire_formats.WireFormatRun("base64", False, (52.0, 91.0, 80.0), 53_000)
    assert wire_formats.paired_difference_ms(binary, base64_json) == 2.0
    assert binary.median_ms == 70.0 and binary.as_row()["requests"] == 3


def test_replies_are_counted_per_worker_process(model_server) -> None:
    answers = remote_workers.answered_by(model_server.address, photo_jpegs(2), requests=3)
    per_phase = remote_workers.answers_per_process(
        {"first": answers, "second": {"elsewhere:1": 2}}, [model_server])
    assert per_phase == {"first": {model_server.name: 3},
                         "second": {model_server.name: 0, "another process (elsewhere:1)": 2}}
    rows = remote_workers.worker_rows(per_phase, [model_server])
    assert rows[0] == {"worker process": model_server.name, "pid": model_server.pid, "running now": "yes",
                       "replies: first": 3, "replies: second": 0}
    assert rows[1]["replies: second"] == 2 and rows[1]["pid"] == ""


def test_a_command_line_reads_as_typed(model_server) -> None:
    assert remote_workers.command_line(model_server).startswith(
        f"python -m model_server --address {model_server.address}")


def test_html_escapes_what_came_from_outside() -> None:
    assert "tabby &lt;cat&gt;" in display.predictions_html(REPLY.predictions)
    assert "<script>" not in display.table_html([{"name": "<script>"}])
    assert "Untrained weights" in display.weights_note("untrained")


def test_plots_draw_without_a_display() -> None:
    summaries = [latencies.summarise(request_times.MONOLITH, [5.0, 6.0]),
                 latencies.summarise("Flask app + model server", [0.2, 0.3])]
    levels = [_level("one worker", 1, 20.0, 50.0, {1: 4}), _level("one worker", 8, 20.0, 400.0, {1: 8}),
              _level("ours", 1, 20.0, 50.0, {1: 4}), _level("ours", 8, 35.0, 220.0, {4: 2, 8: 6})]
    figures = [
        plots.plot_cold_stages(dict.fromkeys(cold_start.STAGES, 1.0)),
        plots.plot_requests({request_times.MONOLITH: [5.0, 6.0]}),
        plots.plot_comparison(summaries),
        plots.plot_speed_ups({"vs the monolith app": 20.0}),
        plots.plot_under_load(levels),
        plots.plot_batch_sizes(levels[2:]),
        plots.plot_against_limit(levels, BARE),
        plots.plot_wire_formats([wire_formats.WireFormatRun("two frames", True, (50.0, 52.0, 49.0), 40_000),
                                 wire_formats.WireFormatRun("base64", False, (51.0, 53.0, 50.0), 53_000)]),
        plots.plot_answers_per_worker({"both": {"a": 6, "b": 6}, "after a left": {"a": 0, "b": 12}}),
    ]
    assert all(figure.axes for figure in figures)


def test_checks_command_selects_one_notebook() -> None:
    command = checks_command("nb04")
    assert command[command.index("-k") + 1] == "nb04"
