"""The web app as a real process over real HTTP, and its recovery when the model server restarts."""

from __future__ import annotations

import pytest
import requests

import imagegen
from harness.launch import start_model_server, start_web_app
from harness.sample_images import NOT_AN_IMAGE, photo

HTTP_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def web_app(model_server):
    """``flask --app flask_server.app run`` on a free port, using the session's model server."""
    server = start_web_app(model_server.address, name="test-web-app")
    yield server
    server.stop()


def post_image(url: str, image: bytes, filename: str = "photo.jpg") -> requests.Response:
    return requests.post(url, files={"file": (filename, image, "image/jpeg")}, timeout=HTTP_TIMEOUT_S)


def test_browser_upload_gets_the_predictions_page(web_app):
    response = post_image(f"{web_app.address}/uploader", photo(), "kitten.jpg")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert 'Predictions for <span class="filename">kitten.jpg</span>' in response.text
    assert response.text.count("<meter") == 3


def test_http_api_returns_predictions_as_json(web_app):
    response = post_image(f"{web_app.address}/api/predict", photo(format="PNG"))
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 3


def test_http_upload_that_is_not_an_image_gets_400(web_app):
    response = post_image(f"{web_app.address}/api/predict", NOT_AN_IMAGE, "list.jpg")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "not_an_image"


@pytest.mark.parametrize(
    "image", [pytest.param(image, id=name) for name, image in imagegen.awkward_images().items()]
)
def test_awkward_image_gets_predictions_as_json_and_as_a_page(web_app, image):
    answer = post_image(f"{web_app.address}/api/predict", image)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 3
    page = post_image(f"{web_app.address}/uploader", image)
    assert page.status_code == 200, page.text
    assert page.text.count("<meter") == 3
    assert 'src="data:image/jpeg;base64,' in page.text, "the page shows a preview of the upload"


UNUSABLE_UPLOADS = [
    pytest.param(imagegen.EMPTY, 400, "empty_file", id="empty"),
    pytest.param(NOT_AN_IMAGE, 400, "not_an_image", id="text"),
    pytest.param(imagegen.truncated_jpeg(), 400, "unreadable_image", id="truncated-jpeg"),
    pytest.param(imagegen.truncated(imagegen.webp()), 400, "unreadable_image", id="truncated-webp"),
    pytest.param(imagegen.truncated(imagegen.tiff()), 400, "unreadable_image", id="truncated-tiff"),
    pytest.param(imagegen.png_bomb(), 413, "image_too_large", id="png-bomb"),
    pytest.param(imagegen.gif_bomb(), 413, "image_too_large", id="gif-bomb"),
    pytest.param(imagegen.webp_bomb(), 413, "image_too_large", id="webp-bomb"),
    pytest.param(imagegen.tiff_bomb(), 413, "image_too_large", id="tiff-bomb"),
]


@pytest.mark.parametrize(("image", "status", "code"), UNUSABLE_UPLOADS)
def test_unusable_upload_gets_its_status_and_code_and_the_next_is_answered(web_app, image, status, code):
    refused = post_image(f"{web_app.address}/api/predict", image)
    assert (refused.status_code, refused.json()["error"]["code"]) == (status, code)
    assert refused.json()["error"]["message"]
    page = post_image(f"{web_app.address}/uploader", image)
    assert page.status_code == status and f"<code>{code}</code>" in page.text
    assert post_image(f"{web_app.address}/api/predict", photo()).status_code == 200


BOUNDARY = "lab-boundary"


def multipart(*parts: tuple[bytes, bytes], boundary: str = BOUNDARY, closed: bool = True) -> bytes:
    """A multipart body written by hand: ``(Content-Disposition header value, data)`` per part."""
    body = b"".join(f"--{boundary}\r\n".encode() + b"Content-Disposition: form-data; " + disposition
                    + b"\r\n\r\n" + data + b"\r\n" for disposition, data in parts)
    return body + (f"--{boundary}--\r\n".encode() if closed else b"")


IMAGE_PART = (b'name="file"; filename="photo.png"', photo((16, 16), "PNG"))
FORM = f"multipart/form-data; boundary={BOUNDARY}"
HOSTILE_BODIES = [
    pytest.param(b"", FORM, 400, "no_file", id="empty-body"),
    pytest.param(multipart(IMAGE_PART), "multipart/form-data", 400, "no_file", id="no-boundary"),
    pytest.param(multipart(IMAGE_PART, boundary="other"), FORM, 400, "no_file", id="wrong-boundary"),
    pytest.param(multipart(IMAGE_PART, closed=False), FORM, 400, "no_file", id="unterminated"),
    pytest.param(multipart((b'name="file"', IMAGE_PART[1])), FORM, 400, "no_file", id="no-filename"),
    pytest.param(photo((16, 16), "PNG"), "image/png", 200, None, id="raw-image-body"),
    pytest.param(photo(), "application/octet-stream", 200, None, id="raw-octet-stream-body"),
    pytest.param(b"", "image/jpeg", 400, "empty_file", id="empty-raw-body"),
    pytest.param(NOT_AN_IMAGE, "image/jpeg", 400, "not_an_image", id="raw-text-as-jpeg"),
    pytest.param(imagegen.png_bomb(), "image/png", 413, "image_too_large", id="raw-png-bomb"),
    pytest.param(b'{"image": "iVBORw0KGgo="}', "application/json", 400, "no_file", id="json-body"),
    pytest.param(multipart(*[(f'name="f{i}"'.encode(), b"x") for i in range(2000)], IMAGE_PART), FORM,
                 413, "form_too_large", id="2000-form-fields"),
    pytest.param(multipart((b'name="note"', b"x" * 600_000), IMAGE_PART), FORM, 413, "form_too_large",
                 id="600-kb-text-field"),
    pytest.param(multipart((b'name="file"; filename="../../etc/passwd"', IMAGE_PART[1])), FORM, 200, None,
                 id="path-as-filename"),
    pytest.param(multipart(IMAGE_PART, IMAGE_PART), FORM, 200, None, id="two-files"),
]


@pytest.mark.parametrize(("body", "content_type", "status", "code"), HOSTILE_BODIES)
def test_hostile_http_body_gets_its_status_and_the_next_upload_is_answered(
    web_app, body, content_type, status, code
):
    response = requests.post(f"{web_app.address}/api/predict", data=body,
                             headers={"Content-Type": content_type}, timeout=HTTP_TIMEOUT_S)
    assert response.status_code == status, response.text
    if code is not None:
        assert response.json()["error"]["code"] == code and response.json()["error"]["message"]
    assert post_image(f"{web_app.address}/api/predict", photo()).status_code == 200


def test_upload_page_is_served(web_app):
    response = requests.get(f"{web_app.address}/", timeout=HTTP_TIMEOUT_S)
    assert response.status_code == 200
    assert 'name="file"' in response.text


def test_web_app_recovers_by_itself_when_the_model_server_comes_back(openvino_flags):
    """Stop the model server under a running web app, then start a new one on the same port
    (ResNet50 on OpenVINO, quick to start: ``openvino_flags``)."""
    model_server = start_model_server(weights="random", extra_args=openvino_flags, name="restarted-model-server")
    web_app = start_web_app(model_server.address, name="recovering-web-app")
    try:
        api = f"{web_app.address}/api/predict"
        image = photo(seed=7)
        before = post_image(api, image)
        assert before.status_code == 200

        assert model_server.stop() == 0, "SIGTERM stops the model server cleanly"
        down = post_image(api, image)
        assert down.status_code == 503
        assert int(down.headers["Retry-After"]) > 0
        assert requests.get(f"{web_app.address}/readyz", timeout=HTTP_TIMEOUT_S).status_code == 503

        port = int(model_server.address.rsplit(":", 1)[1])
        model_server = start_model_server(weights="random", port=port, extra_args=openvino_flags,
                                          name="restarted-model-server")
        after = post_image(api, image)
        assert after.status_code == 200
        assert web_app.running(), "the web app was not restarted"
        assert after.json()["predictions"] == before.json()["predictions"], (
            "the restarted server's seeded weights give the same answer"
        )
        assert requests.get(f"{web_app.address}/readyz", timeout=HTTP_TIMEOUT_S).status_code == 200
    finally:
        web_app.stop()
        model_server.stop()


@pytest.mark.parametrize("method, path", [
    ("get", "/"), ("post", "/uploader"), ("post", "/api/predict"), ("get", "/no-such-page"),
    ("get", "/metrics"),
])
def test_every_response_carries_the_security_headers(web_app, method, path):
    files = {"file": ("photo.jpg", photo(), "image/jpeg")} if method == "post" else None
    response = requests.request(method, f"{web_app.address}{path}", files=files, timeout=HTTP_TIMEOUT_S)
    assert response.status_code in (200, 404)
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    policy = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'none'", "no scripts, no plugins, nothing not listed"
    assert policy["frame-ancestors"] == "'none'"
    assert "script-src" not in policy


def test_an_upload_above_the_limit_gets_413_before_it_is_read(web_app):
    limit = 16 * 2**20
    response = post_image(f"{web_app.address}/api/predict", b"\xff" * (limit + 1))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "upload_too_large"


def test_a_raw_body_above_the_limit_gets_413(web_app):
    limit = 16 * 2**20
    response = requests.post(f"{web_app.address}/api/predict", data=b"\xff" * (limit + 1),
                             headers={"Content-Type": "image/jpeg"}, timeout=HTTP_TIMEOUT_S)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "upload_too_large"


def test_the_image_as_the_body_gets_the_same_predictions_as_the_form_upload(web_app):
    image = photo()
    raw = requests.post(f"{web_app.address}/api/predict", data=image,
                        headers={"Content-Type": "image/jpeg"}, timeout=HTTP_TIMEOUT_S)
    form = post_image(f"{web_app.address}/api/predict", image)
    assert raw.status_code == form.status_code == 200, raw.text
    assert raw.json()["predictions"] == form.json()["predictions"]


def test_a_request_without_an_image_is_told_both_ways_to_send_one(web_app):
    response = requests.post(f"{web_app.address}/api/predict", data=b'{"x": 1}',
                             headers={"Content-Type": "application/json"}, timeout=HTTP_TIMEOUT_S)
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "form field 'file'" in message and "Content-Type image/" in message
