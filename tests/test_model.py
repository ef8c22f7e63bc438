"""ResNet50 with untrained seeded weights, the weight-source rules, and ImageNet loading offline.

Loading ResNet50 takes seconds, so each variant is loaded once for this module: the untrained
model, and the "ImageNet" model read from a Keras cache this module builds itself (a seeded
ResNet50 with another seed, saved where Keras keeps its download).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from harness.processes import free_port
from harness.sample_images import photo_jpegs
from model_server.client import ModelClient
from model_server.images import decode_image
from model_server.models import weights
from model_server.models.labels import imagenet_classes
from model_server.models.tensorflow_model import ResNet50Classifier
from model_server.models.weights import WEIGHTS_FILE, WeightsUnavailable, resolve_weights
from model_server.protocol import IMAGENET, UNTRAINED, decode_reply, encode_request
from model_server.serving.batching import Batcher
from model_server.serving.request_handler import RequestHandler
from model_server.serving.settings import ServerSettings

#: The seed of the stand-in "ImageNet" weights: anything but weights.DEFAULT_SEED.
STAND_IN_SEED = 4321
IMAGES = photo_jpegs(3)

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


def pixel_batch(images=IMAGES) -> np.ndarray:
    return np.stack([decode_image(image) for image in images])


# --- the untrained model -------------------------------------------------------------------------


def test_untrained_model_gives_a_probability_per_class(untrained):
    probabilities = untrained.predict_batch(pixel_batch())
    assert probabilities.shape == (len(IMAGES), 1000)
    assert np.all(probabilities >= 0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)


def test_untrained_model_says_so(untrained):
    assert untrained.weights == UNTRAINED
    assert untrained.untrained
    assert untrained.model_name == "resnet50"


def test_preprocessing_is_resnet50s_own_bgr_minus_imagenet_mean(untrained):
    pixels = np.zeros((1, 224, 224, 3), np.uint8)
    pixels[..., :] = (10, 20, 30)  # R, G, B
    batch = untrained.preprocess(pixels)
    assert batch.dtype == np.float32
    np.testing.assert_allclose(batch[0, 0, 0], [30 - 103.939, 20 - 116.779, 10 - 123.68], atol=1e-3)


@pytest.mark.parametrize("top", [1, 3, 10, 1000])
def test_top_predictions_are_the_most_probable_in_descending_order(untrained, top):
    probabilities = untrained.predict_batch(pixel_batch(IMAGES[:1]))[0]
    predictions = untrained.top_predictions(probabilities, top)
    assert len(predictions) == top
    values = [p.probability for p in predictions]
    assert values == sorted(values, reverse=True)
    assert values[0] == pytest.approx(float(probabilities.max()))


def test_top_predictions_name_the_class_at_each_index(untrained):
    probabilities = np.zeros(1000, np.float32)
    probabilities[[207, 0, 999]] = [0.6, 0.3, 0.1]
    predictions = untrained.top_predictions(probabilities, 3)
    classes = imagenet_classes()
    assert [(p.label, p.wnid) for p in predictions] == [
        (classes[i].name, classes[i].wnid) for i in (207, 0, 999)
    ]
    assert predictions[0].wnid == "n02099601"
    assert [p.probability for p in predictions] == pytest.approx([0.6, 0.3, 0.1])


def test_load_time_is_broken_down_by_step(untrained):
    timings = untrained.load_timings
    assert timings.build_model > 0 and timings.first_inference > 0
    assert timings.total == pytest.approx(
        timings.import_tensorflow + timings.build_model + timings.load_weights
        + timings.first_inference
    )


def test_untrained_weights_are_the_same_in_two_processes(untrained, model_server):
    """This process and the model server subprocess load the same seeded weights."""
    with ModelClient(model_server.address, timeout=30) as client:
        reply = client.predict(IMAGES[0], top=1000)
    by_wnid = {p.wnid: p.probability for p in reply.predictions}
    theirs = np.array([by_wnid[c.wnid] for c in imagenet_classes()])
    ours = untrained.predict_batch(pixel_batch(IMAGES[:1]))[0]
    np.testing.assert_array_equal(theirs.astype(np.float32), ours)


def test_untrained_answers_differ_between_images(untrained):
    """Else 'the same answer for the same image' elsewhere in the suite would prove nothing."""
    probabilities = untrained.predict_batch(pixel_batch())
    assert np.abs(probabilities[0] - probabilities[1]).max() > 1e-3


@contextlib.contextmanager
def request_handler(classifier, settings: ServerSettings):
    """The server's request handler with its batcher running, as a worker thread uses it."""
    batcher = Batcher(classifier, settings.max_batch, settings.max_delay_ms)
    batcher.start()
    try:
        yield RequestHandler(classifier, settings, batcher)
    finally:
        batcher.stop()


def test_a_request_past_its_deadline_is_not_decoded_or_computed(untrained):
    settings = ServerSettings(weights="random")
    batcher = Batcher(untrained, settings.max_batch, settings.max_delay_ms)
    batcher.start()
    try:
        handler = RequestHandler(untrained, settings, batcher)
        frame = handler([encode_request(IMAGES[0], request_id="late")], deadline=time.monotonic() - 0.1)
    finally:
        batcher.stop()
    assert batcher.batch_sizes == {}
    reply = json.loads(frame)
    assert (reply["id"], reply["error"]["code"]) == ("late", "deadline_exceeded")


def test_reply_says_which_weights_answered(untrained):
    with request_handler(untrained, ServerSettings(weights="random")) as handler:
        reply = decode_reply(handler([encode_request(IMAGES[0], top=3, request_id="w")]))
    assert (reply.weights, reply.model, reply.id) == (UNTRAINED, "resnet50", "w")


# --- where the weights come from -----------------------------------------------------------------


@pytest.fixture
def no_download(monkeypatch):
    """Fail the test if anything asks where to download the ImageNet weights from."""

    def refuse():
        raise AssertionError("tried to download the ImageNet weights")

    monkeypatch.setattr(weights, "_imagenet_origin", refuse)


@pytest.fixture
def keras_home(monkeypatch, tmp_path) -> Path:
    """An empty Keras cache: ``$KERAS_HOME/models`` does not exist yet."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return tmp_path / "keras"


@pytest.fixture
def refusing_url() -> str:
    """A URL on a port nothing listens on: the connection is refused at once, as offline."""
    return f"http://127.0.0.1:{free_port()}/{WEIGHTS_FILE}"


@pytest.fixture
def black_hole_url():
    """A URL whose server accepts the connection and never answers: the worst kind of offline."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/{WEIGHTS_FILE}"
    listener.close()


def test_random_source_never_looks_for_imagenet_weights(no_download, keras_home):
    (keras_home / "models").mkdir(parents=True)
    (keras_home / "models" / WEIGHTS_FILE).write_bytes(b"cached")
    assert resolve_weights("random") is None


def test_missing_weights_path_is_refused_naming_it(tmp_path):
    missing = tmp_path / "nowhere" / "weights.h5"
    with pytest.raises(WeightsUnavailable) as caught:
        resolve_weights(str(missing))
    assert str(missing) in str(caught.value)
    assert "does not exist" in str(caught.value)


def test_weights_path_that_exists_is_used(tmp_path, no_download):
    path = tmp_path / "mine.h5"
    path.write_bytes(b"weights")
    assert resolve_weights(str(path)) == path


@pytest.mark.parametrize("source", ["auto", "imagenet"])
def test_cached_imagenet_weights_are_used_without_a_download(source, keras_home, no_download):
    cached = keras_home / "models" / WEIGHTS_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"weights")
    assert resolve_weights(source) == cached


def test_strict_imagenet_offline_names_the_file_to_place_in_the_keras_cache(
    monkeypatch, tmp_path, refusing_url
):
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(weights, "_imagenet_origin", lambda: (refusing_url, "0" * 32))
    started = time.monotonic()
    with pytest.raises(WeightsUnavailable) as caught:
        resolve_weights("imagenet")
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert WEIGHTS_FILE in message
    assert str(tmp_path / ".keras" / "models") in message  # ~/.keras/models, expanded
    assert not (tmp_path / ".keras" / "models" / WEIGHTS_FILE).exists()


def test_auto_offline_falls_back_to_untrained_within_seconds(
    monkeypatch, keras_home, black_hole_url, caplog
):
    monkeypatch.setattr(weights, "_imagenet_origin", lambda: (black_hole_url, "0" * 32))
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger=weights.__name__):
        assert resolve_weights("auto") is None
    elapsed = time.monotonic() - started
    assert elapsed < weights.DOWNLOAD_CONNECT_TIMEOUT_S + 3
    assert "using untrained weights" in caplog.text
    assert not (keras_home / "models" / WEIGHTS_FILE).exists()


def test_file_that_is_not_resnet50_weights_is_refused(tmp_path):
    path = tmp_path / "broken.h5"
    path.write_bytes(b"this is not an HDF5 file")
    with pytest.raises(WeightsUnavailable, match="not a ResNet50 weights file"):
        ResNet50Classifier.load(str(path))


# --- the ImageNet loading path, offline ----------------------------------------------------------


def save_legacy_h5_weights(keras_model, path: Path) -> None:
    """Write weights in the layout of Keras' published ``.h5`` files.

    Keras 3's ``save_weights`` only writes its new ``.weights.h5`` layout; ``load_weights`` reads
    a plain ``.h5`` name (the published ImageNet file) with the legacy reader, so the stand-in
    must be written by the legacy writer.
    """
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, keras_model)


@pytest.fixture(scope="module")
def stand_in_cache(tmp_path_factory):
    """A Keras cache holding a stand-in ImageNet file, and that model's own probabilities."""
    import keras
    from keras.applications.resnet50 import preprocess_input

    home = tmp_path_factory.mktemp("keras-home")
    (home / "models").mkdir()
    keras.utils.set_random_seed(STAND_IN_SEED)
    stand_in = keras.applications.ResNet50(weights=None)
    save_legacy_h5_weights(stand_in, home / "models" / WEIGHTS_FILE)
    batch = preprocess_input(pixel_batch().astype(np.float32))
    expected = stand_in(batch, training=False).numpy()
    del stand_in
    return home, expected


class RecordingHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def imagenet_from_cache(stand_in_cache):
    """``ResNet50Classifier.load("imagenet")`` with the network unreachable and the cache filled."""
    home, _ = stand_in_cache
    logger = logging.getLogger(weights.__name__)
    recorder = RecordingHandler()
    logger.addHandler(recorder)

    def offline():
        raise AssertionError("tried to download although the weights are cached")

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KERAS_HOME", str(home))
        patch.setattr(weights, "download_imagenet_weights", offline)
        try:
            classifier = ResNet50Classifier.load(IMAGENET)
        finally:
            logger.removeHandler(recorder)
    return classifier, recorder.messages


def test_imagenet_weights_are_read_from_the_keras_cache(imagenet_from_cache, stand_in_cache):
    classifier, _ = imagenet_from_cache
    _, expected = stand_in_cache
    assert classifier.weights == IMAGENET
    np.testing.assert_allclose(classifier.predict_batch(pixel_batch()), expected, rtol=0, atol=1e-5)


def test_imagenet_weights_are_not_the_untrained_ones(imagenet_from_cache, untrained):
    classifier, _ = imagenet_from_cache
    theirs = classifier.predict_batch(pixel_batch())
    assert np.abs(theirs - untrained.predict_batch(pixel_batch())).max() > 1e-3


def test_reply_says_imagenet_weights_answered(imagenet_from_cache, stand_in_cache):
    classifier, _ = imagenet_from_cache
    _, expected = stand_in_cache
    with request_handler(classifier, ServerSettings(weights=IMAGENET)) as handler:
        reply = decode_reply(handler([encode_request(IMAGES[0], top=1)]))
    assert reply.weights == IMAGENET
    best = imagenet_classes()[int(expected[0].argmax())]
    assert reply.predictions[0].wnid == best.wnid


def test_weights_file_that_is_not_the_published_one_is_warned_about(imagenet_from_cache):
    _, warnings = imagenet_from_cache
    assert any("does not have the MD5 of the published ImageNet weights" in m for m in warnings)


def test_the_server_imports_keras_without_matplotlib_which_stays_importable():
    """Keras imports matplotlib.pyplot for plotting helpers a server never calls (slowing its
    start); the server's loader hides it, and it can be imported normally afterwards."""
    script = (
        "import sys\n"
        "from model_server.models.tensorflow_model import keras_without_plotting\n"
        "with keras_without_plotting():\n"
        "    import keras\n"
        "print('matplotlib' in sys.modules)\n"
        "import matplotlib.pyplot\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["False", "True"]
