"""Checks for notebook 02's exercises: ``time_call``, ``slowest_stage`` and ``handle_upload``."""

from __future__ import annotations

import time

import pytest


@pytest.fixture
def nb02(load_answers):
    return load_answers("nb02_monolith")


def test_time_call_returns_the_result_of_the_call(nb02, attempt):
    outcome = attempt(nb02.time_call, lambda: 42)
    assert isinstance(outcome, tuple) and len(outcome) == 2, (
        f"time_call should return a pair (result, seconds), not {outcome!r}"
    )
    assert outcome[0] == 42, f"the first item should be what the function returned (42), not {outcome[0]!r}"


def test_time_call_passes_the_arguments_on(nb02, attempt):
    result, _ = attempt(nb02.time_call, lambda a, b=0: a - b, 10, b=3)
    assert result == 7, "time_call(fn, *args, **kwargs) must call fn(*args, **kwargs)"


def test_time_call_measures_seconds(nb02, attempt):
    _, seconds = attempt(nb02.time_call, time.sleep, 0.05)
    assert isinstance(seconds, float), f"return the seconds as a float, not {type(seconds).__name__}"
    assert seconds < 10, (
        f"a 0.05 s sleep took {seconds:g}: that looks like milliseconds; return seconds"
    )
    assert seconds >= 0.045, (
        f"a 0.05 s sleep was measured as {seconds:g} s: start the clock before the call "
        "and stop it after"
    )
    assert seconds < 1.0, f"a 0.05 s sleep was measured as {seconds:g} s: time only the call"


def test_time_call_is_not_moved_by_the_wall_clock(nb02, attempt, monkeypatch):
    """The wall clock (``time.time``) is set by NTP or by hand and can jump while a call runs; an
    interval is measured on a clock that only moves forward (``time.perf_counter``)."""
    wall = time.time
    readings = []

    def wall_clock_set_forward_an_hour_after_the_first_reading() -> float:
        readings.append(None)
        return wall() + (3600.0 if len(readings) > 1 else 0.0)

    monkeypatch.setattr(time, "time", wall_clock_set_forward_an_hour_after_the_first_reading)
    _, seconds = attempt(nb02.time_call, time.sleep, 0.05)
    monkeypatch.undo()
    assert seconds < 10, (
        f"a 0.05 s sleep was measured as {seconds:g} s while the wall clock was set forward an hour: "
        "time.time() follows the wall clock; time intervals with time.perf_counter()")


def test_slowest_stage_names_the_slowest_and_its_share(nb02, attempt):
    name, share = attempt(nb02.slowest_stage, {"import": 3.0, "build": 1.0})
    assert name == "import", f"'import' took 3.0 s of 4.0 s: it is the slowest, not {name!r}"
    assert share == pytest.approx(0.75), (
        f"the share should be a fraction of the total (3.0 / 4.0 = 0.75), not {share!r}"
    )


def test_slowest_stage_of_nothing_is_an_error(nb02, expect_raises):
    expect_raises(ValueError, "with no stages there is no slowest: raise ValueError",
                  nb02.slowest_stage, {})


# --- handle_upload: the monolith's per-request work, with fake parts (fast) and the real ones ---

#: Each fake stage sleeps this long: different enough that a stage timed under another's name shows.
FAKE_SLEEPS = {"import_tensorflow": 0.02, "build_model": 0.06, "load_weights": 0.10,
               "decode_image": 0.14, "predict": 0.18}


class FakeParts:
    """Stand-ins for TensorFlow, ResNet50 and Pillow that note what was called, in order."""

    def __init__(self):
        self.calls = []
        parts = self

        class FakeModel:
            def load_weights(self, path):
                parts.step("load_weights", path)

        self.model = FakeModel()

    def step(self, name, *args):
        self.calls.append((name, *args))
        time.sleep(FAKE_SLEEPS[name])

    def import_tensorflow(self):
        self.step("import_tensorflow")
        return "keras"

    def build_model(self, keras):
        self.step("build_model", keras)
        return self.model

    def decode_image(self, image):
        self.step("decode_image", image)
        return "pixels"

    def predict(self, model, pixels):
        self.step("predict", model is self.model, pixels)
        return "probabilities"

    def top_predictions(self, probabilities, top):
        self.calls.append(("top_predictions", probabilities, top))
        return [f"top {top} of {probabilities}"]


@pytest.fixture
def handle_upload(nb02):
    return nb02.handle_upload


def test_handle_upload_does_the_steps_in_order(handle_upload, attempt):
    parts = FakeParts()
    attempt(handle_upload, b"jpeg", "weights.h5", parts)
    names = [call[0] for call in parts.calls]
    assert names[:5] == list(FAKE_SLEEPS), (
        f"the steps ran as {names}: import TensorFlow, build the model, load the weights into it, "
        "decode the image, then predict"
    )
    assert ("build_model", "keras") in parts.calls, "build the model with what import_tensorflow returned"
    assert ("load_weights", "weights.h5") in parts.calls, "load the weights_file you were given into the model"
    assert ("decode_image", b"jpeg") in parts.calls, "decode the uploaded image bytes you were given"
    assert ("predict", True, "pixels") in parts.calls, "predict with the built model on the decoded pixels"


def test_handle_upload_returns_the_top_predictions(handle_upload, attempt):
    parts = FakeParts()
    outcome = attempt(handle_upload, b"jpeg", "weights.h5", parts, top=5)
    assert isinstance(outcome, tuple) and len(outcome) == 2, (
        f"return a pair (top predictions, stages), not {outcome!r}"
    )
    assert outcome[0] == ["top 5 of probabilities"], (
        "the first item should be what parts.top_predictions returns for the probabilities and `top`"
    )


def test_handle_upload_times_each_stage_under_its_name(nb02, handle_upload, attempt):
    _, stages = attempt(handle_upload, b"jpeg", "weights.h5", FakeParts())
    assert isinstance(stages, dict) and set(stages) == set(nb02.HANDLER_STAGES), (
        f"the stages should be a dict with the keys {nb02.HANDLER_STAGES}, not {stages!r}"
    )
    by_time = sorted(stages, key=stages.__getitem__)
    assert by_time == list(FAKE_SLEEPS), (
        f"the stages from quickest to slowest came out as {by_time}, but the steps took longer in "
        f"the order {list(FAKE_SLEEPS)}: is each time stored under the right stage's name?"
    )
    short = [name for name, sleep in FAKE_SLEEPS.items() if stages[name] < sleep]
    assert not short, f"{short} took less than the step itself: time each call around the step"


@pytest.mark.real_model
def test_handle_upload_classifies_with_the_real_untrained_resnet50(handle_upload, attempt):
    from harness.sample_images import photo
    from lab.monolith.parts import REAL_PARTS
    from model_server.models.pipeline import classify_image
    from model_server.models.tensorflow_model import ResNet50Classifier, weights_file

    image = photo(seed=0)
    predictions, _ = attempt(handle_upload, image, str(weights_file("random")), REAL_PARTS)
    expected, _ = classify_image(ResNet50Classifier.load("random"), image, 3)
    assert [p.label for p in predictions] == [p.label for p in expected], (
        "with the real parts, the labels should be the monolith's for the same image and weights"
    )
