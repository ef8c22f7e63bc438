"""The web app as a real process over real HTTP, and its recovery when the model server restarts."""

from __future__ import annotations

import pytest
import requests

import imagegen
from lab.processes import start_model_server, start_web_app

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
    response = post_image(f"{web_app.address}/uploader", imagegen.jpeg(), "kitten.jpg")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert 'Predictions for <span class="filename">kitten.jpg</span>' in response.text
    assert response.text.count("<meter") == 3


def test_http_api_returns_predictions_as_json(web_app):
    response = post_image(f"{web_app.address}/api/predict", imagegen.png())
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 3


def test_http_upload_that_is_not_an_image_gets_400(web_app):
    response = post_image(f"{web_app.address}/api/predict", imagegen.not_an_image(), "list.jpg")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "not_an_image"


def test_upload_page_is_served(web_app):
    response = requests.get(f"{web_app.address}/", timeout=HTTP_TIMEOUT_S)
    assert response.status_code == 200
    assert 'name="file"' in response.text


def test_web_app_recovers_by_itself_when_the_model_server_comes_back():
    """Stop the model server under a running web app, then start a new one on the same port."""
    model_server = start_model_server(weights="random", name="restarted-model-server")
    web_app = start_web_app(model_server.address, name="recovering-web-app")
    try:
        api = f"{web_app.address}/api/predict"
        image = imagegen.jpeg(seed=7)
        before = post_image(api, image)
        assert before.status_code == 200

        assert model_server.stop() == 0, "SIGTERM stops the model server cleanly"
        down = post_image(api, image)
        assert down.status_code == 503
        assert int(down.headers["Retry-After"]) > 0
        assert requests.get(f"{web_app.address}/readyz", timeout=HTTP_TIMEOUT_S).status_code == 503

        port = int(model_server.address.rsplit(":", 1)[1])
        model_server = start_model_server(weights="random", port=port, name="restarted-model-server")
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
    files = {"file": ("photo.jpg", imagegen.jpeg(), "image/jpeg")} if method == "post" else None
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
