"""The command lines: ``python -m model_server`` and ``python -m model_server.test_client``."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from dataclasses import fields

import pytest
import zmq

from harness.launch import start_model_server
from harness.processes import REPO_ROOT
from harness.sample_images import NOT_AN_IMAGE, photo
from model_server.client import ModelClient
from model_server.environment import MODEL_SERVER_PREFIX
from model_server.serving.cli import SERVER_FLAGS, parse_settings, parse_worker_settings
from model_server.serving.settings import ServerSettings, command_line, flag_name, flags, model_server_command

#: Seconds a command may take; the model server loads ResNet50 before it binds its address.
COMMAND_TIMEOUT_S = 120


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=REPO_ROOT,
        timeout=COMMAND_TIMEOUT_S, stdin=subprocess.DEVNULL,
    )


def png_b64(seed: int) -> str:
    return base64.b64encode(photo((64, 64), "PNG", seed=seed)).decode("ascii")


def test_model_server_logs_when_it_is_ready_and_where(model_server):
    assert f"model server ready on {model_server.address}" in model_server.log_tail(200)


def test_model_server_on_an_address_in_use_exits_with_a_clear_message(model_server, openvino_flags):
    # It loads its model before it binds: OpenVINO's, a tenth of TensorFlow's time.
    result = run("-m", "model_server", "--address", model_server.address, "--weights", "random",
                 "--workers", "1", *openvino_flags)
    assert result.returncode == 1
    assert f"cannot listen on {model_server.address}" in result.stderr
    assert "Address already in use" in result.stderr
    with ModelClient(model_server.address, timeout=30) as client:
        assert client.ping().model == "resnet50", "the server already there keeps running"


def test_model_server_refuses_zero_workers_without_remote_ones():
    result = run("-m", "model_server", "--workers", "0")
    assert result.returncode == 2
    assert "--workers 0 needs --backend-address" in result.stderr


def test_model_server_refuses_negative_workers():
    result = run("-m", "model_server", "--workers", "-1")
    assert result.returncode == 2
    assert "--workers must be at least 0" in result.stderr


def test_sigterm_stops_the_server_cleanly_after_answering_requests_in_flight():
    # One image per forward pass: with batching all eight could be answered together, leaving
    # nothing in flight by the time the first reply is back. A drain time far above what eight
    # images take on a loaded machine: what is tested is that they are finished, not how fast
    # (the default 5 s was once too short at a load average above 3).
    server = start_model_server(weights="random", workers=2,
                                extra_args=flags(max_batch=1, drain_seconds=60),
                                name="sigterm-test-model-server")
    context = zmq.Context()
    try:
        clients = []
        for index in range(8):
            socket = context.socket(zmq.DEALER)
            socket.linger = 0
            socket.connect(server.address)
            socket.send(json.dumps({"image": png_b64(index), "id": f"r{index}"}).encode())
            clients.append(socket)
        # Once the first reply is back the server is working through the others (two workers,
        # a tenth of a second or more per image): stop it now, with requests in flight.
        poller = zmq.Poller()
        for socket in clients:
            poller.register(socket, zmq.POLLIN)
        assert poller.poll(60_000), "no reply at all"
        exit_code = server.stop()
        replies = [json.loads(socket.recv()) if socket.poll(2000) else None for socket in clients]
    finally:
        server.stop()
        context.destroy(linger=0)

    assert exit_code == 0
    log = server.log_tail(200)
    in_flight = re.search(r"finishing (\d+) request\(s\) in flight", log)
    assert in_flight and int(in_flight.group(1)) >= 1, log
    assert "model server stopped" in log
    assert all(reply is not None for reply in replies), "every request in flight was answered"
    assert [reply["id"] for reply in replies] == [f"r{i}" for i in range(8)]
    assert all(reply["predictions"] for reply in replies)


@pytest.fixture
def images(tmp_path):
    paths = {
        "photo": tmp_path / "photo.jpg",
        "drawing": tmp_path / "drawing.png",
        "list": tmp_path / "holiday.jpg",
    }
    paths["photo"].write_bytes(photo())
    paths["drawing"].write_bytes(photo(format="PNG"))
    paths["list"].write_bytes(NOT_AN_IMAGE)
    return paths


def test_test_client_prints_predictions_and_round_trip_time(model_server, images):
    result = run("-m", "model_server.test_client", str(images["photo"]), str(images["drawing"]),
                 "--address", model_server.address)
    assert result.returncode == 0, result.stderr
    for path in (images["photo"], images["drawing"]):
        assert re.search(rf"{re.escape(str(path))}: [\d.]+ ms round trip .*weights untrained",
                         result.stdout), result.stdout
    predictions = re.findall(r"^\s+[\d.]+%\s+.+ \(n\d{8}\)$", result.stdout, re.MULTILINE)
    assert len(predictions) == 2 * 3


def test_test_client_exits_1_for_a_file_that_is_not_an_image(model_server, images):
    result = run("-m", "model_server.test_client", str(images["list"]), str(images["photo"]),
                 "--address", model_server.address)
    assert result.returncode == 1
    assert f"{images['list']}:" in result.stderr and "[not_an_image]" in result.stderr
    assert f"{images['photo']}:" in result.stdout, "the other images are still classified"


def test_test_client_exits_1_for_a_missing_file(model_server, tmp_path):
    missing = tmp_path / "missing.jpg"
    result = run("-m", "model_server.test_client", str(missing), "--address", model_server.address)
    assert result.returncode == 1
    assert f"{missing}: cannot read" in result.stderr


# --- the flags are the settings' own fields ---------------------------------------------------------


def parse_error(capsys, argv: list[str], parse=parse_settings) -> str:
    with pytest.raises(SystemExit) as exit_info:
        parse(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_every_setting_but_the_remote_workers_own_is_a_server_flag_with_its_default(capsys, monkeypatch):
    for name in [f.name for f in fields(ServerSettings)]:
        monkeypatch.delenv(MODEL_SERVER_PREFIX + name.upper(), raising=False)
    with pytest.raises(SystemExit):
        parse_settings(["--help"])
    shown = capsys.readouterr().out
    for f in fields(ServerSettings):
        if f.name in ("server_public_key", "supervise"):
            assert flag_name(f.name) + " " not in shown, f.name
            continue
        assert flag_name(f.name) in shown, f.name
    assert "--max-batch MAX_BATCH" in shown and "(default: 8)" in shown
    assert parse_settings([]) == ServerSettings()


def test_settings_survive_their_command_line(monkeypatch):
    for name in [f.name for f in fields(ServerSettings)]:
        monkeypatch.delenv(MODEL_SERVER_PREFIX + name.upper(), raising=False)
    settings = ServerSettings(
        backend_address="tcp://127.0.0.1:5577", weights="random", runtime="openvino", workers=0,
        max_batch=3, max_delay_ms=7.5, max_queue=9, hang_timeout_s=2.5, log_level="DEBUG",
        insecure_public=True,
    )
    argv = command_line(settings)
    assert argv[:2] == ["--backend-address", "tcp://127.0.0.1:5577"] and "--insecure-public" in argv
    assert parse_settings(argv) == settings
    assert command_line(ServerSettings()) == []


@pytest.mark.parametrize("argv, message", [
    (["--max-batch", "0"], "--max-batch must be at least 1"),
    (["--max-delay-ms", "-1"], "--max-delay-ms must not be negative"),
    (["--max-queue", "0"], "--max-queue must be at least 1"),
    (["--request-timeout-s", "0"], "--request-timeout-s must be positive"),
    (["--heartbeat-interval-s", "0"], "--heartbeat-interval-s must be positive"),
    (["--heartbeat-liveness", "0"], "--heartbeat-liveness must be at least 1"),
    (["--hang-timeout-s", "-2"], "--hang-timeout-s must be positive"),
    (["--precision", "bf8"], "invalid choice: 'bf8'"),
    (["--http-address", "8000"], "--http-address must be HOST:PORT"),
    (["--http-address", "0.0.0.0:http"], "--http-address must be HOST:PORT"),
])
def test_a_flag_out_of_range_is_a_usage_error_naming_it(capsys, argv, message):
    assert message in parse_error(capsys, argv)


def test_a_variable_out_of_range_is_checked_like_its_flag(capsys, monkeypatch):
    monkeypatch.setenv("MODEL_SERVER_LOG_LEVEL", "LOUD")
    assert "--log-level must be one of DEBUG, INFO, WARNING, ERROR; got 'LOUD'" in parse_error(capsys, [])
    monkeypatch.setenv("MODEL_SERVER_LOG_LEVEL", "INFO")
    monkeypatch.setenv("MODEL_SERVER_RUNTIME", "onnx")
    assert "unknown runtime 'onnx'; use tensorflow or openvino" in parse_error(capsys, [])


def test_a_remote_worker_needs_a_worker_and_takes_its_own_flags(capsys):
    assert "--workers must be at least 1" in parse_error(
        capsys, ["--connect", "tcp://127.0.0.1:5577", "--workers", "0"], parse_worker_settings)
    connect, settings = parse_worker_settings(
        ["--connect", "tcp://127.0.0.1:5577", "--supervise", "--server-public-key", "server.key"])
    assert connect == "tcp://127.0.0.1:5577"
    assert settings.supervise and settings.server_public_key == "server.key"
    assert "unrecognized arguments: --max-queue" in parse_error(
        capsys, ["--connect", "tcp://127.0.0.1:5577", "--max-queue", "3"], parse_worker_settings)


def test_the_docs_name_every_server_flag():
    """docs/running.md lists the model server's flags; one added to the settings must be added there."""
    running = (REPO_ROOT / "docs" / "running.md").read_text()
    missing = [flag_name(name) for name in SERVER_FLAGS if f"`{flag_name(name)}" not in running]
    assert not missing, f"docs/running.md does not document {missing}"


def test_the_lab_starts_servers_and_workers_with_the_command_the_settings_give():
    settings = ServerSettings(weights="random", workers=3, supervise=True)
    assert command_line(settings, ["weights", "workers", "supervise"]) == [
        "--weights", "random", "--workers", "3", "--supervise"]
    assert model_server_command("worker", "--connect", "tcp://127.0.0.1:5577")[:4] == [
        sys.executable, "-m", "model_server", "worker"]
    _connect, parsed = parse_worker_settings(
        ["--connect", "tcp://127.0.0.1:5577", *command_line(settings, ["weights", "workers", "supervise"])])
    assert (parsed.weights, parsed.workers, parsed.supervise) == ("random", 3, True)
