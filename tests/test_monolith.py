"""The monolith, the lab's "before": it loads ResNet50 inside the request, and says so."""

from __future__ import annotations

import html
import re

import pytest

import imagegen
from flask_server.monolith import create_app
from harness.sample_images import NOT_AN_IMAGE, photo
from model_server.client import ModelClient

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


@pytest.fixture
def monolith():
    return create_app({"TESTING": True, "MODEL_WEIGHTS": "random"}).test_client()


def test_monolith_page_says_it_is_the_slow_version(monolith):
    page = monolith.get("/").get_data(as_text=True)
    assert "The slow version (monolith)" in page
    assert 'name="file"' in page


def test_monolith_upload_gets_predictions_and_the_load_breakdown(monolith, upload, model_server):
    image = photo(seed=3)
    response = upload(monolith, "/uploader", image, "dog.jpg")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "The slow version (monolith)" in page
    assert "Untrained weights:" in page
    for step in ("importing TensorFlow", "building ResNet50", "loading weights", "first inference"):
        assert re.search(rf"{step} [\d.]+ s", page), step

    labels = re.findall(r'<span class="label">(.*?)</span>', page)
    with ModelClient(model_server.address, timeout=30) as client:
        split = client.predict(image)
    assert labels == [html.escape(p.label) for p in split.predictions], (
        "the monolith and the model server do the same computation"
    )


def test_monolith_refuses_a_file_that_is_not_an_image_with_400(monolith, upload):
    response = upload(monolith, "/uploader", NOT_AN_IMAGE, "holiday.jpg")
    assert response.status_code == 400
    assert "<code>not_an_image</code>" in response.get_data(as_text=True)


def test_monolith_refuses_an_empty_upload_before_loading_the_model(monolith, upload):
    response = upload(monolith, "/uploader", imagegen.EMPTY, "empty.jpg")
    assert response.status_code == 400
    assert "<code>empty_file</code>" in response.get_data(as_text=True)


def test_monolith_api_answers_the_split_apps_json_plus_its_load_timings(monolith, upload, client):
    image = photo(seed=3)
    answer = upload(monolith, "/api/predict", image, "dog.jpg")
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    mine, split = answer.get_json(), upload(client, "/api/predict", image, "dog.jpg").get_json()
    assert set(mine) == set(split) | {"load_timings"}
    assert set(mine["timings"]) == set(split["timings"])
    assert [p["wnid"] for p in mine["predictions"]] == [p["wnid"] for p in split["predictions"]], (
        "the monolith and the model server do the same computation"
    )
    assert set(mine["load_timings"]) == {"import_tensorflow", "build_model", "load_weights",
                                         "first_inference"}
    assert mine["load_timings"]["build_model"] > 0 and mine["load_timings"]["first_inference"] > 0
    assert mine["round_trip_ms"] / 1000 >= mine["load_timings"]["build_model"]


def test_monolith_api_refuses_an_empty_upload_as_json(monolith, upload):
    response = upload(monolith, "/api/predict", imagegen.EMPTY, "empty.jpg")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "empty_file"
