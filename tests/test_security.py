"""Who may use the model server: loopback by default, and CURVE keys when it listens beyond.

Every key here is made by the real ``keygen`` command in a temporary directory; servers, workers
and the web app are real processes with real ZeroMQ sockets, always stopped. The servers and
workers started here run ResNet50 on OpenVINO, quick to start (``openvino_flags``): what is
tested here is the keys.
"""

from __future__ import annotations

import ast
import pickle
import re
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import zmq

from fakes import raw_dealer
from harness.launch import start_broker, start_model_server, start_remote_worker, start_web_app
from harness.processes import REPO_ROOT, ServerProcess, free_port
from harness.sample_images import photo
from model_server.client import ModelClient, ModelServerRefused
from model_server.curve import ClientKeys
from model_server.keys import KeyDirectory, load_authorized_keys, load_public_key
from model_server.serving.lifecycle import ServerStartError
from model_server.serving.security import is_loopback
from model_server.serving.server import ModelServer
from model_server.serving.settings import ServerSettings, flags

#: Seconds a command may take; the refusals below come before any model is loaded.
COMMAND_TIMEOUT_S = 120
#: Long enough that a refusal reported as "nobody is there" after it would fail the test.
PATIENT_CONNECT_TIMEOUT_S = 10.0


def _patient_client(address: str, keys: ClientKeys | None = None) -> ModelClient:
    """A client that would wait long enough for a refusal to be mistaken for "nobody there"."""
    return ModelClient(address, timeout=60, retries=0, connect_timeout=PATIENT_CONNECT_TIMEOUT_S,
                       keys=keys)
HTTP_TIMEOUT_S = 60
#: Seconds to wait for a line in a server's log.
LOG_WAIT_S = 60.0


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=REPO_ROOT,
        timeout=COMMAND_TIMEOUT_S, stdin=subprocess.DEVNULL,
    )


def keygen(directory: Path, *args: str) -> KeyDirectory:
    result = run("-m", "model_server", "keygen", str(directory), *args)
    assert result.returncode == 0, result.stderr
    return KeyDirectory(directory)


def wait_for_log(server: ServerProcess, text: str) -> None:
    deadline = time.monotonic() + LOG_WAIT_S
    while text not in server.log_tail(1000):
        assert server.running(), f"{server.name} exited:\n{server.log_tail()}"
        assert time.monotonic() < deadline, f"{text!r} not in the log of {server.name}:\n{server.log_tail()}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> KeyDirectory:
    return keygen(tmp_path_factory.mktemp("curve") / "keys")


@pytest.fixture(scope="module")
def stranger(tmp_path_factory) -> KeyDirectory:
    """Keys made elsewhere: the same layout, none of them known to our server."""
    return keygen(tmp_path_factory.mktemp("curve") / "stranger")


@pytest.fixture(scope="module")
def secured_server(keys, openvino_flags):
    with start_model_server(weights="random", workers=1, keys=keys, extra_args=openvino_flags,
                            name="secured-model-server") as server:
        yield server


# --- the keygen command -----------------------------------------------------------------------

def test_keygen_writes_key_pairs_only_their_owner_can_read(tmp_path):
    result = run("-m", "model_server", "keygen", str(tmp_path / "keys"))
    assert result.returncode == 0, result.stderr
    keys = KeyDirectory(tmp_path / "keys")
    secrets = [keys.server_secret, keys.client_secret(), keys.worker_secret()]
    for secret in secrets:
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
        assert str(secret) in result.stdout, "the command says where each secret goes"
    for directory in (keys.path, keys.clients, keys.workers):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    client_keys = ClientKeys.load(keys.client_secret(), keys.server_public)
    assert client_keys.server_public == load_public_key(keys.server_public)
    assert load_authorized_keys(keys.clients) == {client_keys.own.public}
    assert load_authorized_keys(keys.workers) == {load_public_key(keys.workers / "worker.key")}


def test_keygen_adds_a_client_and_never_overwrites_a_key(tmp_path):
    keys = keygen(tmp_path / "keys")
    server_key = keys.server_secret.read_bytes()
    keygen(tmp_path / "keys", "--client", "laptop")
    assert keys.server_secret.read_bytes() == server_key, "the server keeps its key"
    assert len(load_authorized_keys(keys.clients)) == 2
    again = run("-m", "model_server", "keygen", str(tmp_path / "keys"), "--client", "laptop")
    assert again.returncode == 1
    assert "laptop.key already exists" in again.stderr


# --- loopback by default ----------------------------------------------------------------------

@pytest.mark.parametrize("address, loopback", [
    ("tcp://127.0.0.1:5576", True),
    ("tcp://127.0.0.2:5576", True),
    ("tcp://localhost:5576", True),
    ("tcp://[::1]:5576", True),
    ("tcp://lo:5576", True),
    ("ipc:///tmp/model.sock", True),
    ("tcp://0.0.0.0:5576", False),
    ("tcp://*:5576", False),
    ("tcp://10.0.0.5:5576", False),
    ("tcp://eth0:5576", False),
    ("tcp://[::]:5576", False),
])
def test_which_addresses_count_as_loopback(address, loopback):
    assert is_loopback(address) is loopback


def test_model_server_refuses_a_public_address_without_keys():
    result = run("-m", "model_server", "--address", f"tcp://0.0.0.0:{free_port()}", "--weights", "random")
    assert result.returncode == 2
    assert "refusing to listen on tcp://0.0.0.0" in result.stderr
    assert "python -m model_server keygen" in result.stderr


def test_model_server_refuses_a_public_worker_port_without_keys():
    result = run("-m", "model_server", "--workers", "0",
                 "--backend-address", f"tcp://*:{free_port()}")
    assert result.returncode == 2
    assert "refusing to listen on tcp://*:" in result.stderr


def test_insecure_public_listens_anyway_and_says_so():
    with start_broker(host="0.0.0.0", extra_args=tuple(flags(insecure_public=True)),
                      name="insecure-broker") as server:
        wait_for_log(server, "model server ready")
        log = server.log_tail()
    assert f"listening on {server.address} with no encryption and no authentication" in log
    assert "WARNING" in log


def test_the_server_class_refuses_a_public_address_too():
    """Not only the command line: ``ModelServer.bind`` itself checks, before binding anything."""
    address = f"tcp://0.0.0.0:{free_port()}"
    settings = ServerSettings(address=address, workers=0, backend_address=f"tcp://127.0.0.1:{free_port()}")
    server = ModelServer(None, settings, context=zmq.Context())
    with pytest.raises(ServerStartError, match=f"refusing to listen on {address}"):
        server.bind()
    assert _port_is_free(int(address.rsplit(":", 1)[1]))


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_model_server_with_a_missing_key_file_exits_with_a_clear_message(tmp_path):
    missing = tmp_path / "server.key_secret"
    result = run("-m", "model_server", "--workers", "0", "--backend-address",
                 f"tcp://127.0.0.1:{free_port()}", "--secret-key", str(missing),
                 "--authorized-clients", str(tmp_path), "--authorized-workers", str(tmp_path))
    assert result.returncode == 1
    assert f"cannot read the secret key file {missing}" in result.stderr


# --- clients: allowed and refused -------------------------------------------------------------

def test_a_client_with_an_authorized_key_gets_predictions(secured_server, keys):
    authorized = ClientKeys.load(keys.client_secret(), keys.server_public)
    with ModelClient(secured_server.address, timeout=60, keys=authorized) as client:
        reply = client.predict(photo())
    assert len(reply.predictions) == 3


def test_a_client_without_keys_is_told_the_server_requires_them(secured_server):
    with _patient_client(secured_server.address) as client:
        with pytest.raises(ModelServerRefused, match="requires CURVE keys"):
            client.ping()


def test_a_client_with_an_unknown_key_is_refused_and_the_server_logs_it(secured_server, keys, stranger):
    unknown = ClientKeys.load(stranger.client_secret(), keys.server_public)
    with _patient_client(secured_server.address, unknown) as client:
        with pytest.raises(ModelServerRefused, match="refused our key") as refused:
            client.ping()
    assert refused.value.code == "refused"
    wait_for_log(secured_server, "refused a client whose public key is not authorized: "
                 + unknown.own.public.decode())


def test_authorized_keys_added_or_deleted_count_from_the_next_connection_without_a_restart(
    tmp_path, stranger, openvino_flags
):
    own = keygen(tmp_path / "keys")
    ours = ClientKeys.load(own.client_secret(), own.server_public)
    theirs = ClientKeys.load(stranger.client_secret(), own.server_public)
    with start_model_server(weights="random", workers=1, keys=own, extra_args=openvino_flags,
                            name="rekeyed-model-server") as server:
        with _patient_client(server.address, theirs) as client, pytest.raises(ModelServerRefused):
            client.ping()
        (own.clients / "stranger.key").write_bytes((stranger.clients / "client.key").read_bytes())
        with _patient_client(server.address, theirs) as client:
            assert client.ping().model == "resnet50", "a key added is accepted"
        (own.clients / "client.key").unlink()
        with _patient_client(server.address, ours) as client, pytest.raises(ModelServerRefused):
            client.ping()
        wait_for_log(server, "authorized client keys read again")


def test_a_worker_key_cannot_be_used_to_send_requests(secured_server, keys):
    """Clients and workers are authorized separately: a worker's key is not a client's."""
    worker_as_client = ClientKeys.load(keys.worker_secret(), keys.server_public)
    with _patient_client(secured_server.address, worker_as_client) as client:
        with pytest.raises(ModelServerRefused, match="refused our key"):
            client.ping()


def test_a_client_with_the_wrong_server_key_is_refused(secured_server, keys, stranger):
    wrong_server = ClientKeys.load(keys.client_secret(), stranger.server_public)
    with _patient_client(secured_server.address, wrong_server) as client:
        with pytest.raises(ModelServerRefused, match=r"handshake .* failed"):
            client.ping()


def test_a_keyed_client_of_a_server_without_keys_is_told_so(model_server, keys):
    client_keys = ClientKeys.load(keys.client_secret(), keys.server_public)
    with _patient_client(model_server.address, client_keys) as client:
        with pytest.raises(ModelServerRefused, match="does not use CURVE"):
            client.ping()


def test_the_web_app_uses_its_keys_from_the_environment(secured_server, keys):
    with start_web_app(secured_server.address, keys=keys, name="keyed-web-app") as web_app:
        response = requests.post(f"{web_app.address}/api/predict", timeout=HTTP_TIMEOUT_S,
                                 files={"file": ("photo.jpg", photo(), "image/jpeg")})
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 3


def test_a_web_app_without_keys_answers_503_refused(secured_server, make_app, upload):
    client = make_app(secured_server.address,
                      MODEL_SERVER_CONNECT_TIMEOUT=PATIENT_CONNECT_TIMEOUT_S).test_client()
    response = upload(client, "/api/predict", photo())
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "refused"
    assert "requires CURVE keys" in response.get_json()["error"]["message"]


# --- remote workers: allowed and refused ------------------------------------------------------

def test_only_an_authorized_worker_receives_work(keys, stranger, openvino_flags):
    """A worker key nobody authorized, or a key authorized only to send requests, gets no work:
    two such workers beside an authorized one, on one broker."""
    intruder_keys = {"stranger": stranger.worker_secret(), "client-key": keys.client_secret()}
    with start_broker(keys=keys, name="secured-broker") as broker, \
            start_remote_worker(broker, workers=1, keys=keys, extra_args=openvino_flags,
                                name="authorized-worker") as allowed, \
            start_remote_worker(broker, workers=1, key_files=(intruder_keys["stranger"], keys.server_public),
                                extra_args=openvino_flags, ready_when="loaded",
                                name="unauthorized-worker-stranger") as stranger_worker, \
            start_remote_worker(broker, workers=1, key_files=(intruder_keys["client-key"], keys.server_public),
                                extra_args=openvino_flags, ready_when="loaded",
                                name="unauthorized-worker-client-key") as client_key_worker:
        wait_for_log(broker, "refused a worker whose public key is not authorized")
        with ModelClient(broker.address, timeout=60, retries=0, keys=broker.client_keys) as client:
            answered_by = [client.predict(photo(seed=i)).worker for i in range(8)]
        for intruder in (stranger_worker, client_key_worker):
            # Each says so itself, once, however often it tries again.
            wait_for_log(intruder, f"remote_worker ERROR the model server at {broker.backend_address}"
                         " refused our key")
            wait_for_log(intruder, "reconnecting")  # with a fresh socket, refused again
            assert intruder.log_tail(1000).count("refused our key") == 1, intruder.name
    assert {worker.rsplit(":", 1)[1] for worker in answered_by} == {str(allowed.pid)}


def test_a_refused_worker_joins_once_its_key_is_authorized_neither_restarted(tmp_path, stranger, openvino_flags):
    own = keygen(tmp_path / "keys")
    with start_broker(keys=own, name="rekeyed-broker") as broker, start_remote_worker(
        broker, workers=1, key_files=(stranger.worker_secret(), own.server_public), ready_when="loaded",
        extra_args=("--heartbeat-interval-s", "0.5", *openvino_flags), name="late-authorized-worker",
    ) as worker:
        wait_for_log(worker, "refused our key")
        (own.workers / "stranger.key").write_bytes((stranger.workers / "worker.key").read_bytes())
        wait_for_log(broker, f"remote worker {socket.gethostname()}:{worker.pid} joined")
        with ModelClient(broker.address, timeout=60, retries=0, keys=broker.client_keys) as client:
            assert client.predict(photo()).worker.endswith(f":{worker.pid}")


def test_a_worker_without_keys_says_that_the_broker_requires_them(keys, openvino_flags):
    with start_broker(keys=keys, name="secured-broker") as broker, \
            start_remote_worker(broker, workers=1, ready_when="launched", extra_args=openvino_flags,
                                name="keyless-worker") as worker:
        wait_for_log(worker, f"remote_worker ERROR the model server at {broker.backend_address}"
                     " requires CURVE keys: give this worker --secret-key and --server-public-key")


# --- nothing from the wire is unpickled or evaluated ------------------------------------------

class _WouldRun:
    """Unpickling this runs ``touch PATH``: a pickle that does something if anyone loads it."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (subprocess.call, (["touch", str(self.path)],))


def test_a_pickle_sent_to_the_model_server_is_refused_not_loaded(model_server, tmp_path):
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(_WouldRun(marker))
    with raw_dealer(model_server.address) as dealer:
        dealer.send_multipart([b"", payload])
        assert dealer.poll(30_000), "no reply to a pickled request"
        *_, as_request = dealer.recv_multipart()
        dealer.send_multipart([b"", b'{"id": "p"}', payload])
        assert dealer.poll(30_000), "no reply to a pickled image frame"
        *_, as_image = dealer.recv_multipart()
    assert b'"bad_json"' in as_request
    assert b'"not_an_image"' in as_image
    assert not marker.exists(), "the pickle was loaded"


#: Deserializers that can run code or build arbitrary objects, and the ways to evaluate text.
FORBIDDEN_NAMES = {"pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle", "jsonpickle",
                   "eval", "exec", "literal_eval", "recv_pyobj", "send_pyobj", "recv_serialized"}


def _names(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    if isinstance(node, ast.Import):
        return [alias.name.split(".")[0] for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        return [(node.module or "").split(".")[0], *(alias.name for alias in node.names)]
    return []


@pytest.mark.parametrize("package", ["model_server", "flask_server", "lab"])
def test_no_code_can_turn_received_bytes_into_objects(package):
    """No module so much as names a deserializer that runs code: JSON and raw bytes only."""
    found = [
        f"{path.relative_to(REPO_ROOT)}:{node.lineno}: {name}"
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        for name in _names(node) if name in FORBIDDEN_NAMES
    ]
    assert not found, found


def test_the_test_client_uses_keys_and_reports_a_refusal(secured_server, keys, tmp_path):
    photo_path = tmp_path / "photo.jpg"
    photo_path.write_bytes(photo())
    keyed = run("-m", "model_server.test_client", str(photo_path), "--address", secured_server.address,
                "--secret-key", str(keys.client_secret()), "--server-public-key", str(keys.server_public))
    unkeyed = run("-m", "model_server.test_client", str(photo_path), "--address", secured_server.address)
    assert keyed.returncode == 0, keyed.stderr
    assert f"{photo_path}: " in keyed.stdout
    assert unkeyed.returncode == 1
    assert "requires CURVE keys" in unkeyed.stderr and "[refused]" in unkeyed.stderr


@pytest.mark.parametrize("raw, value", [("1", True), ("yes", True), ("0", False), ("false", False)])
def test_the_insecure_opt_in_reads_from_the_environment_as_a_yes_or_no(raw, value):
    assert ServerSettings.from_env({"MODEL_SERVER_INSECURE_PUBLIC": raw}).insecure_public is value


@pytest.mark.parametrize("raw", ["maybe", ""])
def test_an_unclear_yes_or_no_in_the_environment_is_an_error(raw):
    with pytest.raises(ValueError, match=re.escape(f"MODEL_SERVER_INSECURE_PUBLIC={raw!r} is not a valid bool")):
        ServerSettings.from_env({"MODEL_SERVER_INSECURE_PUBLIC": raw})
