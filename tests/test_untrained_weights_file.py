"""Untrained weights are saved once to a file of the real size and read from it on every load.

Without the file, "loading" untrained weights cost nothing and the monolith's load-weights stage
looked free; with it, the stage reads ~100 MB as it would with ImageNet's file.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from harness.sample_images import photo
from model_server.images import decode_image
from model_server.models import tensorflow_model
from model_server.models.tensorflow_model import ResNet50Classifier
from model_server.models.weights import DEFAULT_SEED, untrained_weights_file

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

PIXELS = np.stack([decode_image(photo(seed=seed)) for seed in range(2)])

#: ResNet50 has 25.6 million float32 parameters: about 102 MB, as ImageNet's file (98 MB).
REAL_SIZE_BYTES = 90_000_000


def seconds_to_read(path) -> float:
    """The least a load can cost: reading every byte of the file into one reused buffer."""
    buffer = bytearray(1 << 22)
    started = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buffer):
            pass
    return time.perf_counter() - started


@pytest.fixture(scope="module")
def keras_home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        home = tmp_path_factory.mktemp("keras")
        patch.setenv("KERAS_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def first_load(keras_home):
    return ResNet50Classifier.load("random")


def test_first_load_saves_the_seeded_weights_in_the_keras_cache(first_load, keras_home):
    path = untrained_weights_file(DEFAULT_SEED)
    assert path.parent == keras_home / "models"
    assert "untrained" in path.name and str(DEFAULT_SEED) in path.name
    assert path.stat().st_size > REAL_SIZE_BYTES
    assert [p.name for p in path.parent.iterdir()] == [path.name], "a staging file was left behind"


def test_a_second_load_reads_the_file_instead_of_saving_it_again(first_load, monkeypatch):
    import keras

    path = untrained_weights_file(DEFAULT_SEED)
    saved_at = path.stat().st_mtime_ns
    monkeypatch.setattr(tensorflow_model, "save_untrained_weights",
                        lambda *_: pytest.fail("saved the untrained weights a second time"))
    read = []
    original = keras.Model.load_weights
    monkeypatch.setattr(keras.Model, "load_weights",
                        lambda self, filepath, *a, **k: read.append(filepath) or original(self, filepath, *a, **k))
    second = ResNet50Classifier.load("random")
    assert read == [str(path)]
    assert path.stat().st_mtime_ns == saved_at
    np.testing.assert_array_equal(second.predict_batch(PIXELS), first_load.predict_batch(PIXELS))


def test_weights_read_from_the_file_are_the_seeded_ones(first_load):
    import keras

    keras.utils.set_random_seed(DEFAULT_SEED)
    seeded = keras.applications.ResNet50(weights=None)
    expected = seeded(first_load.preprocess(PIXELS), training=False).numpy()
    np.testing.assert_allclose(first_load.predict_batch(PIXELS), expected, rtol=1e-5, atol=1e-7)


def test_the_load_weights_stage_costs_at_least_reading_the_file(first_load):
    again = ResNet50Classifier.load("random")
    reading = seconds_to_read(untrained_weights_file(DEFAULT_SEED))
    assert again.load_timings.load_weights >= reading, (again.load_timings, reading)
