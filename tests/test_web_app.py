"""The split web app through Flask's test client, against the real model server subprocess."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import time

import pytest

import imagegen
from flask_server import uploads
from flask_server.app import create_app
from harness.sample_images import NOT_AN_IMAGE, photo
from harness.stubs import MADE_UP_REPLY, made_up_reply
from model_server.images import decode_image
from model_server.protocol import (
    ErrorCode,
    Prediction,
    encode_error,
    encode_reply,
    request_id_of,
)
from prometheus_text import samples_of


def test_upload_page_has_a_labelled_file_field_named_file(client):
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page
    assert 'action="/uploader"' in page
    assert '<input id="file" name="file" type="file"' in page
    assert '<label for="file">' in page


def test_uploader_renders_the_predictions(client, upload):
    response = upload(client, "/uploader", photo(), "cat.jpg")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert page.count('<li>') == 3
    assert page.count("<meter") == 3
    assert "Predictions for <span class=\"filename\">cat.jpg</span>" in page
    assert 'src="data:image/jpeg;base64,' in page
    assert "ms</strong>" in page and "weights: untrained" in page


def test_uploader_warns_that_the_weights_are_untrained(client, upload):
    page = upload(client, "/uploader", photo(format="PNG")).get_data(as_text=True)
    assert "Untrained weights:" in page
    assert "These labels mean nothing" in page


def test_uploader_shows_labels_the_api_returns(client, upload):
    image = photo(seed=5)
    labels = [p["label"] for p in upload(client, "/api/predict", image).get_json()["predictions"]]
    page = upload(client, "/uploader", image).get_data(as_text=True)
    for label in labels:
        assert f'<span class="label">{html.escape(label)}</span>' in page


def test_malicious_file_name_is_escaped(client, upload):
    name = "<script>alert('x')</script>.jpg"
    response = upload(client, "/uploader", photo(), name)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;.jpg" in page


def test_file_name_is_never_used_as_a_path(client, upload, tmp_path):
    """The name points at a file that is not an image, and at one that does not exist."""
    existing = tmp_path / "secret.txt"
    existing.write_bytes(b"not an image, and not to be read")
    response = upload(client, "/uploader", photo(), str(existing))
    assert response.status_code == 200, "the uploaded bytes are classified, not the named file"
    assert existing.read_bytes() == b"not an image, and not to be read"

    would_be_written = tmp_path / "subdir" / ".." / "written.jpg"
    assert upload(client, "/uploader", photo(), str(would_be_written)).status_code == 200
    assert not (tmp_path / "written.jpg").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.txt"]


def test_api_predict_returns_json(client, upload):
    response = upload(client, "/api/predict", photo())
    assert response.status_code == 200
    body = response.get_json()
    assert len(body["predictions"]) == 3
    assert set(body["predictions"][0]) == {"label", "wnid", "probability"}
    probabilities = [p["probability"] for p in body["predictions"]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert (body["weights"], body["model"]) == ("untrained", "resnet50")
    assert set(body["timings"]) == {"decode", "preprocess", "inference", "total", "queue"}
    assert body["round_trip_ms"] >= body["timings"]["total"]


def test_top_is_a_setting(model_server, make_app, upload):
    client = make_app(model_server.address, TOP=5).test_client()
    assert len(upload(client, "/api/predict", photo(format="PNG")).get_json()["predictions"]) == 5


@pytest.mark.parametrize("path", ["/uploader", "/api/predict"])
def test_awkward_images_are_classified(client, upload, path):
    for image in (imagegen.cmyk_jpeg(), imagegen.sixteen_bit_png(), imagegen.animated_gif(),
                  imagegen.palette_with_transparency_png(), imagegen.exif_rotated_jpeg(),
                  imagegen.one_pixel_png()):
        assert upload(client, path, image).status_code == 200


# --- bad input -----------------------------------------------------------------------------------


def test_missing_file_gets_400(client):
    response = client.post("/api/predict", data={}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "no_file"


def test_file_in_the_wrong_field_gets_400(client, upload):
    response = upload(client, "/api/predict", photo(), field="image")
    assert response.status_code == 400
    assert "'file'" in response.get_json()["error"]["message"]


BAD_UPLOADS = [
    pytest.param(imagegen.EMPTY, "empty_file", id="empty"),
    pytest.param(NOT_AN_IMAGE, "not_an_image", id="not-an-image"),
    pytest.param(imagegen.truncated_jpeg(), "unreadable_image", id="truncated-jpeg"),
]


@pytest.mark.parametrize(("image", "code"), BAD_UPLOADS)
def test_unusable_upload_gets_400_as_json(client, upload, image, code):
    response = upload(client, "/api/predict", image, "holiday.jpg")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code


@pytest.mark.parametrize(("image", "code"), BAD_UPLOADS)
def test_unusable_upload_gets_400_as_a_page(client, upload, image, code):
    response = upload(client, "/uploader", image, "holiday.jpg")
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "This image cannot be classified" in page
    assert f"<code>{code}</code>" in page


def test_next_upload_after_a_bad_one_is_answered(client, upload):
    assert upload(client, "/api/predict", NOT_AN_IMAGE).status_code == 400
    assert upload(client, "/api/predict", photo()).status_code == 200


def test_upload_above_the_limit_gets_413_as_json(app, client, upload):
    assert app.config["MAX_CONTENT_LENGTH"] == 2**20
    response = upload(client, "/api/predict", b"\xff" * (2**20 + 1))
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "upload_too_large"
    assert "the limit of 1 MiB" in error["message"]


def test_upload_above_the_limit_gets_413_as_a_page(app, client, upload):
    response = upload(client, "/uploader", b"\xff" * (app.config["MAX_CONTENT_LENGTH"] + 1))
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert "Too large" in response.get_data(as_text=True)


def test_upload_limit_defaults_to_at_most_32_mib(model_server, make_app):
    app = make_app(model_server.address)
    assert 0 < app.config["MAX_CONTENT_LENGTH"] <= 32 * 2**20


@pytest.mark.parametrize("path", ["/api/predict", "/uploader"])
def test_pixel_bomb_gets_413_naming_the_megapixel_limit(client, upload, path):
    response = upload(client, path, imagegen.png_bomb(), "bomb.png")
    assert response.status_code == 413
    assert "the limit is 50 megapixels" in response.get_data(as_text=True)


# --- the model server down or slow ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/predict", "/uploader"])
def test_model_server_down_gets_503_with_retry_after(make_app, dead_address, upload, path):
    client = make_app(dead_address, MODEL_SERVER_CONNECT_TIMEOUT=0.2).test_client()
    response = upload(client, path, photo())
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert dead_address in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/api/predict", "/uploader"])
def test_model_server_that_never_answers_gets_504(make_app, silent_server, upload, path):
    client = make_app(silent_server.address, MODEL_SERVER_TIMEOUT=0.3,
                      MODEL_SERVER_RETRIES=1).test_client()
    response = upload(client, path, photo())
    assert response.status_code == 504
    assert "did not answer within 0.3 s" in response.get_data(as_text=True)
    assert len(silent_server.received) == 2


@pytest.fixture
def app_from_environment():
    """Build the split web app with no settings of the test's own: the environment's are used."""
    apps = []

    def make():
        apps.append(create_app({"TESTING": True}))
        return apps[-1]

    yield make
    for app in apps:
        for name in ("model_client", "health_client"):
            app.extensions[name].close()


def test_model_server_timeout_from_the_environment_gives_504_that_soon(
    app_from_environment, silent_server, upload, monkeypatch,
):
    monkeypatch.setenv("MODEL_SERVER_ADDRESS", silent_server.address)
    monkeypatch.setenv("MODEL_SERVER_TIMEOUT", "0.2")
    monkeypatch.setenv("MODEL_SERVER_RETRIES", "0")
    client = app_from_environment().test_client()
    started = time.perf_counter()
    response = upload(client, "/api/predict", photo())
    assert response.status_code == 504
    assert "did not answer within 0.2 s" in response.get_json()["error"]["message"]
    assert time.perf_counter() - started < 2, "the default is 5 s an attempt, 3 attempts"
    assert len(silent_server.received) == 1


def test_the_former_flask_prefixed_timeout_is_refused_naming_the_variable_to_use(monkeypatch):
    monkeypatch.setenv("FLASK_MODEL_SERVER_TIMEOUT", "0.2")
    with pytest.raises(ValueError, match="FLASK_MODEL_SERVER_TIMEOUT is not read: the web app "
                                         "reads MODEL_SERVER_TIMEOUT"):
        create_app({"TESTING": True})


def test_a_model_server_timeout_that_is_not_a_number_is_refused_naming_it(monkeypatch):
    monkeypatch.setenv("MODEL_SERVER_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="MODEL_SERVER_TIMEOUT='soon' is not a valid float"):
        create_app({"TESTING": True})


# --- health --------------------------------------------------------------------------------------


def test_healthz_says_the_model_server_answers(client, model_server):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["model_server"]["up"] is True
    assert body["model_server"]["weights"] == "untrained"
    assert body["model_server"]["address"] == model_server.address


def test_healthz_is_200_when_the_model_server_is_down(make_app, dead_address):
    response = make_app(dead_address).test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["model_server"]["up"] is False


def test_readyz_is_200_only_when_the_model_server_answers(client, make_app, dead_address):
    assert client.get("/readyz").status_code == 200
    response = make_app(dead_address).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"


def test_metrics_count_requests_errors_and_model_server_time(client, upload):
    upload(client, "/api/predict", photo())
    upload(client, "/api/predict", NOT_AN_IMAGE)
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    samples = samples_of(metrics.get_data(as_text=True))
    counted = {
        'webapp_requests_total{route="/api/predict",status="200"}': 1,
        'webapp_requests_total{route="/api/predict",status="400"}': 1,
        'webapp_errors_total{code="not_an_image",status="400"}': 1,
        "webapp_model_server_seconds_count": 1,
        'webapp_request_seconds_count{route="/api/predict"}': 2,
    }
    assert {name: samples.get(name) for name in counted} == counted


def test_metrics_are_the_web_apps_own_and_never_wait_on_the_model_server(make_app, silent_server):
    """The model server's figures are scraped from its own /metrics: relayed here, one model
    server behind several web apps was counted once per app, and each scrape waited on it."""
    from prometheus_client.parser import text_string_to_metric_families

    client = make_app(silent_server.address).test_client()
    started = time.perf_counter()
    text = client.get("/metrics").get_data(as_text=True)
    elapsed_s = time.perf_counter() - started
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"webapp_requests", "webapp_model_server_seconds", "webapp_errors"} <= names
    assert not [name for name in names if name.startswith("model_server")], names
    assert elapsed_s < 0.5, "a scrape waited for the model server"


def _busy(request: list[bytes]) -> bytes:
    return encode_error(ErrorCode.BUSY, "the model server is busy", request_id_of(request[0]))


def test_a_busy_model_server_gets_503_with_retry_after(make_app, upload, scripted_server):
    client = make_app(scripted_server(_busy).address).test_client()
    api = upload(client, "/api/predict", photo())
    page = upload(client, "/uploader", photo())
    assert (api.status_code, api.get_json()["error"]["code"]) == (503, "busy")
    assert api.headers["Retry-After"].isdigit()
    assert page.status_code == 503 and b"The model server is busy" in page.data


def _decode_timeout(request: list[bytes]) -> bytes:
    return encode_error(ErrorCode.DECODE_TIMEOUT, "decoding this image took longer than 30 s",
                        request_id_of(request[0]))


def test_an_image_whose_decoding_hung_gets_422(make_app, upload, scripted_server):
    """The image is the likely cause: a 4xx, so that nobody retries it (a 5xx invites retries)."""
    client = make_app(scripted_server(_decode_timeout).address).test_client()
    api = upload(client, "/api/predict", photo())
    page = upload(client, "/uploader", photo())
    assert (api.status_code, api.get_json()["error"]["code"]) == (422, "decode_timeout")
    assert page.status_code == 422 and b"This image cannot be classified" in page.data


HOSTILE = "<script>alert('x')</script>"
HOSTILE_ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"


def _hostile_reply(request: list[bytes]) -> bytes:
    """A model server whose every string is markup: labels, class ids, model and weights names."""
    return encode_reply(dataclasses.replace(
        MADE_UP_REPLY,
        predictions=[Prediction(f"{HOSTILE} {rank}", f"<b>n0{rank}</b>", 0.5 / rank) for rank in (1, 2, 3)],
        weights=f"/tmp/{HOSTILE}.h5", model="<img src=x onerror=alert(1)>", id=request_id_of(request[0]),
    ))


def test_everything_a_model_server_says_is_shown_escaped(make_app, upload, scripted_server):
    client = make_app(scripted_server(_hostile_reply).address).test_client()
    response = upload(client, "/uploader", photo(), filename="<i>photo</i>.jpg")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<script>" not in page and "<img src=x" not in page and "<b>" not in page and "<i>" not in page
    assert page.count(HOSTILE_ESCAPED) >= 4, "three labels and the weights, shown as text"
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;i&gt;photo&lt;/i&gt;.jpg" in page


def test_an_error_message_from_the_model_server_is_shown_escaped(make_app, upload, scripted_server):
    server = scripted_server(lambda request: encode_error(ErrorCode.NOT_AN_IMAGE, HOSTILE, request_id_of(request[0])))
    response = upload(make_app(server.address).test_client(), "/uploader", photo())
    assert response.status_code == 400
    assert "<script>" not in response.get_data(as_text=True)
    assert HOSTILE_ESCAPED in response.get_data(as_text=True)


def _original_reply(request: list[bytes]) -> bytes:
    """What the original write-up's server (notebook 04) answers: the predictions, and the id."""
    return json.dumps({"predictions": [{"label": "tabby", "wnid": "n02123045", "probability": 0.9}],
                       "id": request_id_of(request[0])}).encode()


def test_a_server_that_sends_only_predictions_is_shown_and_says_what_it_left_out(make_app, upload, scripted_server):
    client = make_app(scripted_server(_original_reply).address).test_client()
    page = upload(client, "/uploader", photo())
    api = upload(client, "/api/predict", photo())
    assert page.status_code == 200 and b"tabby" in page.data
    assert b"did not say which model and weights answered" in page.data
    assert api.status_code == 200
    assert api.get_json()["predictions"][0]["label"] == "tabby"
    assert (api.get_json()["weights"], api.get_json()["timings"]) == (None, None)


# --- what the web app sends the model server -----------------------------------------------------


def test_the_web_app_sends_the_pixels_it_decoded_for_the_preview(make_app, upload, scripted_server, monkeypatch):
    decodes = []
    real_open_rgb = uploads.open_rgb
    monkeypatch.setattr(uploads, "open_rgb", lambda data: decodes.append(len(data)) or real_open_rgb(data))
    server = scripted_server(made_up_reply)
    image = photo()
    response = upload(make_app(server.address).test_client(), "/uploader", image)
    assert response.status_code == 200 and b"data:image/jpeg;base64," in response.data
    [[header, pixels]] = server.received
    assert json.loads(header)["pixels"] == {"shape": [224, 224, 3], "dtype": "uint8"}
    assert pixels == decode_image(image).tobytes(), "the pixels the model server would have decoded"
    assert decodes == [len(image)], "one decode for the pixels and the preview"


def test_with_send_pixels_off_the_web_app_sends_the_image_file(make_app, upload, scripted_server, monkeypatch):
    monkeypatch.setenv("MODEL_SERVER_SEND_PIXELS", "0")
    server = scripted_server(made_up_reply)
    image = photo()
    app = create_app({"TESTING": True, "MODEL_SERVER_ADDRESS": server.address})
    assert upload(app.test_client(), "/api/predict", image).status_code == 200
    [[header, sent]] = server.received
    assert "pixels" not in json.loads(header) and sent == image


@pytest.mark.parametrize(("raw", "sends_pixels"), [("1", True), ("yes", True), ("off", False), ("False", False)])
def test_send_pixels_is_read_as_yes_or_no(raw, sends_pixels, monkeypatch):
    monkeypatch.setenv("MODEL_SERVER_SEND_PIXELS", raw)
    assert create_app({"TESTING": True}).config["MODEL_SERVER_SEND_PIXELS"] is sends_pixels


@pytest.mark.parametrize("raw", ["maybe", ""])
def test_a_send_pixels_setting_that_is_not_yes_or_no_is_refused_naming_it(raw, monkeypatch):
    monkeypatch.setenv("MODEL_SERVER_SEND_PIXELS", raw)
    with pytest.raises(ValueError, match=re.escape(f"MODEL_SERVER_SEND_PIXELS={raw!r} is not a valid bool")):
        create_app({"TESTING": True})


def test_an_upload_that_is_not_an_image_is_refused_by_the_web_app_itself(make_app, upload, scripted_server):
    server = scripted_server(made_up_reply)
    response = upload(make_app(server.address).test_client(), "/api/predict", b"a shopping list")
    assert (response.status_code, response.get_json()["error"]["code"]) == (400, "not_an_image")
    assert server.received == [], "nothing for the model server to do"
