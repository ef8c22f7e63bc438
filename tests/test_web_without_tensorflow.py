"""The web app imports and serves predictions in a Python where TensorFlow and Keras cannot load."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import imagegen
from lab.processes import REPO_ROOT

#: Runs in a fresh interpreter: TensorFlow and Keras are blocked (and every attempt recorded)
#: before anything else is imported, then the web app is built and asked for a prediction.
WEB_APP_WITHOUT_TENSORFLOW = textwrap.dedent(
    """
    import importlib.abc, io, json, sys

    attempts = []

    class BlockTensorFlow(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "keras"):
                attempts.append(name)
                raise ImportError(f"{name} is blocked: the web app must run without it")
            return None

    sys.meta_path.insert(0, BlockTensorFlow())

    from flask_server.app import create_app

    address, image_path = sys.argv[1:]
    app = create_app({"TESTING": True, "MODEL_SERVER_ADDRESS": address})
    client = app.test_client()
    image = open(image_path, "rb").read()
    api = client.post("/api/predict", data={"file": (io.BytesIO(image), "photo.jpg")},
                      content_type="multipart/form-data")
    page = client.post("/uploader", data={"file": (io.BytesIO(image), "photo.jpg")},
                       content_type="multipart/form-data")
    print(json.dumps({
        "api_status": api.status_code,
        "api": api.get_json(),
        "page_status": page.status_code,
        "attempts": attempts,
        "loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")),
    }))
    """
)


def test_web_app_serves_predictions_without_tensorflow(model_server, tmp_path):
    image_path = tmp_path / "photo.jpg"
    image_path.write_bytes(imagegen.jpeg())
    result = subprocess.run(
        [sys.executable, "-c", WEB_APP_WITHOUT_TENSORFLOW, model_server.address, str(image_path)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["attempts"] == [], "the web app tried to import TensorFlow or Keras"
    assert outcome["loaded"] == []
    assert outcome["api_status"] == 200 and len(outcome["api"]["predictions"]) == 3
    assert outcome["page_status"] == 200


def test_the_block_really_blocks_tensorflow(tmp_path):
    """The same guard makes importing the model module's TensorFlow fail, so the test above can."""
    code = WEB_APP_WITHOUT_TENSORFLOW.split("from flask_server.app")[0] + textwrap.dedent(
        """
        try:
            import tensorflow
        except ImportError:
            print(json.dumps(attempts))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO_ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["tensorflow"]
