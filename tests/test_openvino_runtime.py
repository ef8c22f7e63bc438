"""The OpenVINO runtime: same answers as TensorFlow, a cached IR that starts without TensorFlow,
bf16 refused where the CPU lacks it, and the same protocol, batching and workers as TensorFlow.

The module converts the untrained, seeded Keras ResNet50 once into its own cache folder; every
test that needs the IR reads it from there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import imagegen
from benchmarks.sections import accuracy
from fakes import decoded_together
from harness.http import main_element
from harness.launch import (
    BLOCKED_IMPORT,
    import_blocker,
    start_broker,
    start_model_server,
    start_remote_worker,
)
from harness.processes import REPO_ROOT, free_port
from harness.sample_images import photo_jpegs
from model_server.client import ModelClient
from model_server.images import decode_image
from model_server.models.classifier import RuntimeUnavailable
from model_server.models.labels import imagenet_classes
from model_server.models.openvino_model import (
    BF16_CAPABILITY,
    IRCache,
    OpenVINOClassifier,
    cache_key,
    check_precision,
    cpu_capabilities,
    import_openvino,
    package_versions,
    weights_fingerprint,
)
from model_server.models.preprocessing import preprocess_resnet50
from model_server.models.weights import DEFAULT_SEED
from model_server.protocol import BF16, F32, OPENVINO, TENSORFLOW
from model_server.serving.batching import Batcher
from model_server.serving.settings import model_server_command

#: How close each precision must stay to TensorFlow, and where each bound came from: see
#: ``benchmarks.sections.accuracy.BOUNDS`` (bf16: about twice the largest difference measured on two CPUs).
F32_BOUND, BF16_BOUND = accuracy.BOUNDS[F32], accuracy.BOUNDS[BF16]
F32_TOLERANCE = F32_BOUND.max_abs_diff
TOP = 5
#: Photos and the awkward kinds users upload: each gives the model a different answer.
IMAGES = photo_jpegs(6) + [
    imagegen.exif_rotated_jpeg(), imagegen.solid_png((0, 128, 255)), imagegen.cmyk_jpeg(),
]
NAMED_IMAGES = {f"image-{index}": image for index, image in enumerate(IMAGES)}
#: What a start from the cached IR must not import.
TENSORFLOW_PACKAGES = ("tensorflow", "keras")

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


def pixel_batch(images=IMAGES) -> np.ndarray:
    return np.stack([decode_image(image) for image in images])


def top_classes(probabilities: np.ndarray, top: int = TOP) -> list[list[int]]:
    return np.argsort(probabilities, axis=-1)[..., ::-1][..., :top].tolist()


def cpu_has_bf16() -> bool:
    openvino = import_openvino()
    return BF16_CAPABILITY in cpu_capabilities(openvino.Core())


@pytest.fixture(scope="module")
def ir_cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("openvino-ir"))


@pytest.fixture(scope="module")
def first_load(ir_cache) -> tuple[OpenVINOClassifier, list[tuple]]:
    """The load that converts the module's IR, and the network calls Python made meanwhile."""
    calls: list[tuple] = []
    recording = threading.Event()

    def audit(event: str, args: tuple) -> None:
        if recording.is_set() and event in ("socket.connect", "socket.getaddrinfo", "urllib.Request"):
            calls.append((event, args))

    sys.addaudithook(audit)  # hooks cannot be removed; this one records only while converting
    recording.set()
    try:
        classifier = OpenVINOClassifier.load("random", cache_dir=ir_cache)
    finally:
        recording.clear()
    return classifier, calls


@pytest.fixture(scope="module")
def ov_classifier(ir_cache, first_load) -> OpenVINOClassifier:
    return OpenVINOClassifier.load("random", cache_dir=ir_cache)


# --- the same answers as TensorFlow ---------------------------------------------------------------


def test_numpy_preprocessing_is_keras_preprocess_input():
    from keras.applications.resnet50 import preprocess_input

    pixels = np.random.default_rng(0).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    np.testing.assert_allclose(preprocess_resnet50(pixels), preprocess_input(pixels.astype(np.float32)),
                               atol=1e-4)


def test_openvino_f32_gives_tensorflows_probabilities_and_top5(ov_classifier, untrained):
    agreement = accuracy.compare(untrained, ov_classifier, NAMED_IMAGES)
    assert len(agreement.images) == len(IMAGES)
    assert agreement.disagreements(F32_BOUND) == []
    assert agreement.top5_agreement == 1.0, "the same top-5 classes in the same order"
    assert len({tuple(image.reference_top5) for image in agreement.images}) > 1, "images should differ"


class Altered:
    """TensorFlow's answers, changed by ``change`` (probabilities → probabilities): a wrong model."""

    def __init__(self, reference, change):
        self.reference, self.change = reference, change

    def preprocess(self, pixels):
        return self.reference.preprocess(pixels)

    def infer(self, batch):
        return self.change(self.reference.infer(batch))


def swap_top_two(probabilities: np.ndarray) -> np.ndarray:
    """The first and second classes trade places: a small change that gives another answer."""
    swapped = probabilities.copy()
    for row in swapped:
        first, second = np.argsort(row)[::-1][:2]
        row[[first, second]] = row[[second, first]]
    return swapped


def move_probability(probabilities: np.ndarray) -> np.ndarray:
    """0.05 of the top class's probability goes to the sixth: wrong probabilities, beyond bf16's."""
    moved = probabilities.copy()
    for row in moved:
        order = np.argsort(row)[::-1]
        row[order[0]] -= 0.05
        row[order[5]] += 0.05
    return moved


@pytest.mark.parametrize("bound", [F32_BOUND, BF16_BOUND], ids=["f32", "bf16"])
@pytest.mark.parametrize("change", [lambda p: np.roll(p, 1, axis=-1), swap_top_two, move_probability],
                         ids=["every-class-shifted", "top-two-swapped", "probability-moved"])
def test_each_bound_fails_a_model_that_answers_differently(untrained, bound, change):
    """The checks above and below can fail: a model that gives other answers is outside both."""
    agreement = accuracy.compare(untrained, Altered(untrained, change), NAMED_IMAGES)
    assert len(agreement.disagreements(bound)) == len(IMAGES)


needs_bf16 = pytest.mark.skipif(
    not cpu_has_bf16(), reason="this CPU has no bf16 arithmetic (OpenVINO lists no BF16 capability): "
    "the bf16 checks run on a CPU with AVX512_BF16 or AMX, and the refusal tests run here instead")


@pytest.fixture(scope="module")
def bf16_classifier(ir_cache, first_load) -> OpenVINOClassifier:
    return OpenVINOClassifier.load("random", precision=BF16, cache_dir=ir_cache)


@needs_bf16
def test_openvino_bf16_gives_the_same_answers_as_tensorflow(bf16_classifier, untrained):
    agreement = accuracy.compare(untrained, bf16_classifier, NAMED_IMAGES)
    assert agreement.disagreements(BF16_BOUND) == []


@needs_bf16
def test_openvino_computes_in_bf16_where_the_cpu_has_it(bf16_classifier):
    openvino = import_openvino()
    assert bf16_classifier.precision == BF16
    assert bf16_classifier._compiled.get_property("INFERENCE_PRECISION_HINT") == openvino.Type.bf16


def test_openvino_answers_in_f32_as_asked(ov_classifier):
    openvino = import_openvino()
    assert ov_classifier.precision == F32 and ov_classifier.runtime == OPENVINO
    assert ov_classifier._compiled.get_property("INFERENCE_PRECISION_HINT") == openvino.Type.f32


# --- bf16 and unknown runtimes are refused --------------------------------------------------------


class ReportedCPU:
    """What an OpenVINO ``Core`` says of a CPU: to check the decision for the other kind of CPU."""

    def __init__(self, capabilities: list[str]):
        self.properties = {"OPTIMIZATION_CAPABILITIES": capabilities, "FULL_DEVICE_NAME": "Some CPU"}

    def get_property(self, device: str, name: str):
        return self.properties[name]


@pytest.mark.parametrize("capabilities, refused", [
    (["FP32", "INT8", "BIN", "EXPORT_IMPORT"], True),
    (["BF16", "WINOGRAD", "FP32", "INT8", "BIN", "EXPORT_IMPORT"], False),
], ids=["without-bf16", "with-bf16"])
def test_bf16_is_refused_exactly_where_openvino_lists_no_bf16(capabilities, refused):
    """Runs on either kind of CPU, so both sides of the decision are checked wherever CI runs."""
    cpu = ReportedCPU(capabilities)
    check_precision(cpu, F32)
    if refused:
        with pytest.raises(RuntimeUnavailable, match=r"Some CPU\) offers FP32, INT8.*--precision f32"):
            check_precision(cpu, BF16)
    else:
        check_precision(cpu, BF16)


@pytest.mark.skipif(cpu_has_bf16(), reason="this CPU can compute in bf16, so nothing is refused")
def test_bf16_is_refused_with_a_reason_where_the_cpu_lacks_it(ir_cache):
    with pytest.raises(RuntimeUnavailable, match=r"bf16 arithmetic \(AVX512_BF16 or AMX\).*--precision f32"):
        OpenVINOClassifier.load("random", precision=BF16, cache_dir=ir_cache)


def run_model_server(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        model_server_command("--address", f"tcp://127.0.0.1:{free_port()}", *args),
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, env=env,
    )


@pytest.mark.skipif(cpu_has_bf16(), reason="this CPU can compute in bf16, so nothing is refused")
def test_model_server_refuses_bf16_here_and_exits(ir_cache):
    finished = run_model_server("--runtime", "openvino", "--precision", "bf16", "--weights", "random",
                                "--openvino-cache", ir_cache)
    assert finished.returncode == 1
    assert "--precision bf16 needs a CPU with bf16 arithmetic" in finished.stderr


def test_tensorflow_runtime_refuses_bf16():
    finished = run_model_server("--runtime", "tensorflow", "--precision", "bf16", "--weights", "random")
    assert finished.returncode == 1
    assert "bf16 is offered with --runtime openvino only" in finished.stderr


@pytest.mark.parametrize("args, env", [
    (("--runtime", "onnx"), {}),
    ((), {"MODEL_SERVER_RUNTIME": "onnx"}),
    ((), {"MODEL_SERVER_PRECISION": "f16"}),
])
def test_unknown_runtime_or_precision_is_a_usage_error(args, env):
    finished = run_model_server(*args, env={**os.environ, **env})
    assert finished.returncode == 2
    assert "onnx" in finished.stderr or "f16" in finished.stderr
    assert "tensorflow" in finished.stderr and "openvino" in finished.stderr


# --- the IR cache ---------------------------------------------------------------------------------


def test_cache_key_follows_weights_and_versions():
    versions = {"keras": "3.0", "tensorflow": "2.16", "openvino": "2025.0"}
    key = cache_key("untrained-seed-1", versions)
    assert key == cache_key("untrained-seed-1", dict(versions))
    assert key != cache_key("untrained-seed-2", versions)
    for package in versions:
        assert key != cache_key("untrained-seed-1", {**versions, package: "9.9"}), package


def test_weights_fingerprint_is_the_files_content_or_the_seed(tmp_path):
    first, same, other = tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "c.h5"
    first.write_bytes(b"weights" * 1000)
    same.write_bytes(b"weights" * 1000)
    other.write_bytes(b"weights" * 999 + b"Weights")
    assert weights_fingerprint(first, 1) == weights_fingerprint(same, 2)
    assert weights_fingerprint(first, 1) != weights_fingerprint(other, 1)
    assert weights_fingerprint(None, 1) != weights_fingerprint(None, 2)


def test_the_cache_remembers_a_files_fingerprint_until_the_file_changes(tmp_path):
    weights = tmp_path / "weights.h5"
    weights.write_bytes(b"weights" * 1000)
    cache = IRCache(tmp_path / "cache")
    assert cache.fingerprint(weights, 1) == weights_fingerprint(weights, 1)
    notes_path = tmp_path / "cache" / "weights-fingerprints.json"
    notes = json.loads(notes_path.read_text())
    notes[str(weights.resolve())]["fingerprint"] = "remembered"
    notes_path.write_text(json.dumps(notes))
    assert cache.fingerprint(weights, 1) == "remembered", "an unchanged file is not hashed again"
    weights.write_bytes(b"Weights" * 1000)
    os.utime(weights, ns=(1, 1))
    assert cache.fingerprint(weights, 1) == weights_fingerprint(weights, 1) != "remembered"


def test_package_versions_are_read_without_importing_them():
    versions = package_versions()
    assert set(versions) == {"keras", "tensorflow", "openvino"}
    assert versions["openvino"] == import_openvino().__version__.split("-")[0]


def test_first_load_converts_and_stores_then_loads_come_from_the_cache(ir_cache, first_load, ov_classifier):
    converted, _ = first_load
    assert not converted.from_cache and converted.load_timings.convert > 1.0
    assert converted.ir_path == ov_classifier.ir_path
    key = cache_key(weights_fingerprint(None, DEFAULT_SEED), package_versions())
    assert IRCache(ir_cache).lookup(key) == ov_classifier.ir_path
    assert ov_classifier.from_cache and ov_classifier.load_timings.convert < 1.0
    info = json.loads((ov_classifier.ir_path.parent / "info.json").read_text())
    assert info["weights"] == "untrained" and info["openvino"] == package_versions()["openvino"]


def test_conversion_reached_for_no_network_and_telemetry_is_the_stub(first_load):
    from openvino.tools.ovc import telemetry_utils

    assert first_load[1] == []
    assert telemetry_utils.tm.__name__ == "openvino.tools.ovc.telemetry_stub"


LOAD_FROM_CACHE = import_blocker(TENSORFLOW_PACKAGES) + textwrap.dedent(
    """
    import json
    import numpy as np
    from model_server.images import decode_image
    from model_server.models.openvino_model import OpenVINOClassifier

    cache_dir, image_path = sys.argv[1:]
    classifier = OpenVINOClassifier.load("random", cache_dir=cache_dir)
    print("LOADED FROM THE CACHE", file=sys.stderr, flush=True)
    pixels = decode_image(open(image_path, "rb").read())[np.newaxis]
    outcome = {"from_cache": classifier.from_cache,
               "probabilities": classifier.predict_batch(pixels)[0].tolist(),
               "loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))}
    try:
        OpenVINOClassifier.load("random", seed=99, cache_dir=cache_dir)
    except ImportError as error:
        outcome["other_seed"] = str(error)
    print(json.dumps(outcome))
    """
)


def test_cache_hit_needs_no_tensorflow_and_a_new_seed_needs_conversion(ir_cache, ov_classifier, tmp_path):
    image_path = tmp_path / "photo.jpg"
    image_path.write_bytes(IMAGES[0])
    finished = subprocess.run([sys.executable, "-c", LOAD_FROM_CACHE, ir_cache, str(image_path)],
                              capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert finished.returncode == 0, finished.stderr
    outcome = json.loads(finished.stdout.strip().splitlines()[-1])
    assert outcome["from_cache"] and outcome["loaded"] == []
    cache_hit, other_seed = finished.stderr.split("LOADED FROM THE CACHE")
    assert BLOCKED_IMPORT not in cache_hit
    # Another seed is another key: a cache miss, whose conversion needs TensorFlow.
    assert BLOCKED_IMPORT in other_seed and "blocked" in outcome.get("other_seed", "")
    expected = ov_classifier.predict_batch(pixel_batch(IMAGES[:1]))[0]
    np.testing.assert_allclose(outcome["probabilities"], expected, atol=F32_TOLERANCE)


# --- the model server, workers and batching with OpenVINO -----------------------------------------


@pytest.fixture(scope="module")
def openvino_server(ir_cache, ov_classifier):
    """``python -m model_server --runtime openvino`` from the cached IR, TensorFlow blocked."""
    with start_model_server(weights="random", name="test-openvino-model-server",
                            extra_args=("--runtime", "openvino", "--openvino-cache", ir_cache),
                            blocked_imports=TENSORFLOW_PACKAGES) as server:
        yield server


def test_openvino_server_starts_from_the_cache_without_tensorflow(openvino_server):
    log = openvino_server.log_tail(200)
    assert BLOCKED_IMPORT not in log
    assert "resnet50 on openvino f32" in log


def test_openvino_server_answers_the_same_protocol_and_says_so(openvino_server, untrained):
    with ModelClient(openvino_server.address, timeout=60) as client:
        info = client.ping()
        reply = client.predict(IMAGES[1], top=1000)
    assert (info.runtime, info.precision, info.weights) == (OPENVINO, F32, "untrained")
    assert (reply.runtime, reply.precision, reply.weights) == (OPENVINO, F32, "untrained")
    by_wnid = {p.wnid: p.probability for p in reply.predictions}
    served = np.array([by_wnid[c.wnid] for c in imagenet_classes()])
    np.testing.assert_allclose(served, untrained.predict_batch(pixel_batch(IMAGES[1:2]))[0],
                               atol=F32_TOLERANCE)


@needs_bf16
def test_model_server_serves_bf16_where_the_cpu_has_it(ir_cache, bf16_classifier):
    """The counterpart of the refusal test: on a bf16 CPU ``--precision bf16`` serves, and says so."""
    server = start_model_server(weights="random", workers=1, name="test-bf16-model-server",
                                extra_args=("--runtime", "openvino", "--precision", "bf16",
                                            "--openvino-cache", ir_cache))
    try:
        with ModelClient(server.address, timeout=60) as client:
            info = client.ping()
            reply = client.predict(IMAGES[1])
    finally:
        server.stop()
    assert (info.runtime, info.precision) == (OPENVINO, BF16)
    assert (reply.runtime, reply.precision) == (OPENVINO, BF16)
    expected = bf16_classifier.predict_batch(pixel_batch(IMAGES[1:2]))[0]
    assert reply.predictions[0].probability == pytest.approx(float(expected.max()), abs=1e-6)


def test_tensorflow_server_says_it_is_tensorflow(model_server):
    with ModelClient(model_server.address, timeout=60) as client:
        reply = client.predict(IMAGES[0])
        info = client.ping()
    assert (reply.runtime, reply.precision) == (info.runtime, info.precision) == (TENSORFLOW, F32)


def test_concurrent_clients_of_the_openvino_server_each_get_their_own_answer(openvino_server, ov_classifier):
    expected = ov_classifier.predict_batch(pixel_batch())
    replies: dict[int, object] = {}

    def ask(index: int) -> None:
        with ModelClient(openvino_server.address, timeout=120) as client:
            replies[index] = client.predict(IMAGES[index], top=TOP)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(IMAGES))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert sorted(replies) == list(range(len(IMAGES)))
    classes = imagenet_classes()
    for index, reply in replies.items():
        assert [p.wnid for p in reply.predictions] == [classes[i].wnid for i in top_classes(expected[index])]
        np.testing.assert_allclose([p.probability for p in reply.predictions],
                                   np.sort(expected[index])[::-1][:TOP], atol=F32_TOLERANCE)


def test_batches_of_openvino_give_each_image_its_own_probabilities(ov_classifier):
    pixels = [decode_image(image) for image in IMAGES[:6]]
    alone = np.stack([ov_classifier.predict_batch(p[np.newaxis])[0] for p in pixels])
    batcher = Batcher(ov_classifier, max_batch=8, max_delay_ms=3000)
    batcher.start()
    try:
        results = decoded_together(batcher, pixels)
    finally:
        batcher.stop()
    assert max(r.batch_size for r in results) > 1
    np.testing.assert_allclose(np.stack([r.probabilities for r in results]), alone, atol=F32_TOLERANCE)


def test_remote_openvino_worker_answers_through_the_broker(ir_cache, ov_classifier):
    with start_broker(name="test-openvino-broker") as broker, start_remote_worker(
        broker, "random", workers=2, extra_args=("--runtime", "openvino", "--openvino-cache", ir_cache),
        name="test-openvino-worker",
    ) as worker:
        with ModelClient(broker.address, timeout=60) as client:
            reply = client.predict(IMAGES[2], top=TOP)
    assert (reply.runtime, reply.precision) == (OPENVINO, F32)
    assert reply.worker.endswith(f":{worker.pid}")
    expected = ov_classifier.predict_batch(pixel_batch(IMAGES[2:3]))[0]
    assert [p.probability for p in reply.predictions] == pytest.approx(
        np.sort(expected)[::-1][:TOP].tolist(), abs=F32_TOLERANCE)


# --- the web app shows which runtime answered ------------------------------------------------------


def test_web_app_shows_and_counts_the_runtime_that_answered(openvino_server, make_app, upload):
    web = make_app(openvino_server.address).test_client()
    page = upload(web, "/uploader", IMAGES[0])
    assert page.status_code == 200
    assert '<span class="runtime">openvino f32</span>' in main_element(page.get_data(as_text=True))
    api = upload(web, "/api/predict", IMAGES[0]).get_json()
    assert (api["runtime"], api["precision"]) == (OPENVINO, F32)
    health = web.get("/healthz").get_json()["model_server"]
    assert (health["runtime"], health["precision"]) == (OPENVINO, F32)
    metrics = web.get("/metrics").get_data(as_text=True)
    assert 'webapp_predictions_total{precision="f32",runtime="openvino"} 2.0' in metrics


def test_web_app_on_tensorflow_says_tensorflow(client, upload):
    api = upload(client, "/api/predict", IMAGES[0]).get_json()
    assert (api["runtime"], api["precision"]) == (TENSORFLOW, F32)
    page = upload(client, "/uploader", IMAGES[0]).get_data(as_text=True)
    assert '<span class="runtime">tensorflow f32</span>' in main_element(page)
