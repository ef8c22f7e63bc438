"""The Dockerfile, compose.yaml and the Kubernetes manifests, checked without building or running
them: each against its schema, and every command, flag, variable, port and probe in them against
the programs that will run them (their own parsers) and against each other.

No image is built and no cluster runs here; ``test_deploy_install.py`` runs the web tier's
install and command on this machine.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from pkgutil import resolve_name

import kubernetes_validate
import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # the project supports 3.10, whose standard library has no TOML reader
    import tomli as tomllib

from deploy_files import (
    COMPOSE_FILE,
    DOCKERFILE,
    KUBERNETES,
    MODEL_SERVER_HTTP_PATHS,
    OVERLAYS,
    REPO,
    Dockerfile,
    build_overlay,
    compose,
    duration_s,
    footprint,
    host_of,
    pip_install_extras,
    port_of,
    tool,
)
from model_server.environment import MODEL_SERVER_PREFIX
from model_server.serving.settings import ServerSettings, flag_name

#: The tiers the issue asks for, and what each installs.
TIER_EXTRAS = {"web": ["web"], "model": ["model", "openvino"], "lab": ["lab"],
               "model-gpu": ["model", "gpu"]}
#: Kubernetes versions the manifests must be valid for: a few releases back, and the newest.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
#: Variables a container may set besides the programs' own: the interpreter's, pip's, Keras'.
PLATFORM_VARIABLES = {"PATH", "HOME", "VIRTUAL_ENV", "KERAS_HOME", "PYTHONUNBUFFERED",
                      "PYTHONDONTWRITEBYTECODE", "PIP_NO_CACHE_DIR", "PIP_DISABLE_PIP_VERSION_CHECK"}
#: RUN steps that only prepare the image's file system (a user, a directory, an owner); every
#: other RUN must be an install that test_deploy_install.py repeats on the host.
SETUP_STEPS = ("useradd ", "install -d ", "chown ")
#: How much room a probe or a limit leaves above what benchmarks/sections/footprint.py measured.
STARTUP_ALLOWANCE = 10
MEMORY_ALLOWANCE = 1.5


# --- the containers, wherever they are defined -------------------------------------------------

@dataclass
class Container:
    """One container as the deployment files define it: what runs, with what, probed where."""

    where: str
    argv: list[str]
    env: dict[str, str]
    #: (path, port) of each HTTP probe or health check.
    probes: list[tuple[str, int]] = field(default_factory=list)
    #: Ports declared (EXPOSE, expose, containerPort): port → name ("" if unnamed).
    ports: dict[int, str] = field(default_factory=dict)

    @property
    def program(self) -> str:
        if self.argv[:3] == ["python", "-m", "model_server"]:
            return "model_server worker" if self.argv[3:4] == ["worker"] else "model_server"
        if self.argv[:3] == ["python", "-m", "waitress"]:
            return "waitress"
        if self.argv[:2] == ["jupyter", "lab"]:
            return "jupyter lab"
        raise AssertionError(f"{self.where}: an unknown program {self.argv}")


def image_targets(dockerfile: Dockerfile) -> dict[str, str]:
    """Image name → Dockerfile target, from the build commands at the top of the Dockerfile."""
    documented = re.findall(r"docker build --target (\S+)\s+-t (\S+)", DOCKERFILE.read_text())
    return {(tag if ":" in tag.rsplit("/", 1)[-1] else tag + ":latest"): target
            for target, tag in documented}


def url_probe(command: list[str]) -> tuple[str, int]:
    url = command[-1]
    assert url.startswith("http://127.0.0.1:"), f"a health check must ask this container: {command}"
    return "/" + url.split("/", 3)[3], port_of(url)


def dockerfile_containers(dockerfile: Dockerfile) -> list[Container]:
    containers = []
    for target in sorted(set(image_targets(dockerfile).values())):
        ports = {int(p): "" for i in dockerfile.chain(target) for e in i.all("EXPOSE")
                 for p in e.arguments.split()}
        containers.append(Container(f"Dockerfile target {target}", dockerfile.command(target),
                                    dockerfile.env(target), [url_probe(dockerfile.healthcheck(target))],
                                    ports))
    return containers


def compose_containers(dockerfile: Dockerfile) -> list[Container]:
    containers, targets = [], image_targets(dockerfile)
    for name, service in compose()["services"].items():
        target = service["build"]["target"]
        assert targets.get(service["image"]) == target, (
            f"compose service {name}: {service['image']} is not built from {target}")
        entrypoint = dockerfile.last(target, "ENTRYPOINT")
        argv = ((entrypoint.exec_form() if entrypoint else []) + service["command"]
                if "command" in service else dockerfile.command(target))
        env = {**dockerfile.env(target), **{k: str(v) for k, v in service.get("environment", {}).items()}}
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD", f"compose service {name}: a health check in exec form"
        ports = {int(p): "" for p in service.get("expose", [])}
        ports |= {int(str(p).rsplit(":", 1)[-1]): "" for p in service.get("ports", [])}
        containers.append(Container(f"compose service {name}", argv, env, [url_probe(test[1:])], ports))
    return containers


def kubernetes_containers(dockerfile: Dockerfile, objects: list[dict], overlay: str) -> list[Container]:
    targets = image_targets(dockerfile)
    containers = []
    for deployment in of_kind(objects, "Deployment"):
        for spec in deployment["spec"]["template"]["spec"]["containers"]:
            assert spec["image"] in targets, f"{spec['image']} is not an image the Dockerfile says how to build"
            target = targets[spec["image"]]
            argv = kubernetes_argv(dockerfile, target, spec)
            env = {**dockerfile.env(target), **{e["name"]: e["value"] for e in spec.get("env", [])}}
            ports = {p["containerPort"]: p.get("name", "") for p in spec.get("ports", [])}
            by_name = {name: port for port, name in ports.items()}
            probes = []
            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                if kind in spec:
                    port = spec[kind]["httpGet"]["port"]
                    probes.append((spec[kind]["httpGet"]["path"], by_name.get(port, port)))
            containers.append(Container(f"kubernetes/{overlay} Deployment {deployment['metadata']['name']}",
                                        argv, env, probes, ports))
    return containers


def kubernetes_argv(dockerfile: Dockerfile, target: str, spec: dict) -> list[str]:
    """What a container runs: ``command`` replaces the image's ENTRYPOINT and CMD, ``args`` its CMD."""
    if "command" in spec:
        return spec["command"] + spec.get("args", [])
    entrypoint = dockerfile.last(target, "ENTRYPOINT")
    if "args" in spec:
        return (entrypoint.exec_form() if entrypoint else []) + spec["args"]
    return dockerfile.command(target)


def of_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def named(objects: list[dict], kind: str, name: str) -> dict:
    found = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"one {kind} {name}, found {len(found)}"
    return found[0]


def pod_spec(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]


def the_container(deployment: dict) -> dict:
    (container,) = pod_spec(deployment)["containers"]
    return container


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return Dockerfile.read()


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, list[dict]]:
    workspace = tmp_path_factory.mktemp("kustomize")
    return {overlay: build_overlay(overlay, workspace) for overlay in OVERLAYS}


@pytest.fixture(scope="module")
def containers(dockerfile, builds) -> dict[str, list[Container]]:
    found = {"Dockerfile": dockerfile_containers(dockerfile), "compose.yaml": compose_containers(dockerfile)}
    for overlay, objects in builds.items():
        found[f"kubernetes/{overlay}"] = kubernetes_containers(dockerfile, objects, overlay)
    return found


SOURCES = ["Dockerfile", "compose.yaml", *(f"kubernetes/{overlay}" for overlay in OVERLAYS)]


# --- what the programs accept ------------------------------------------------------------------

def model_server_problems(container: Container, monkeypatch) -> list[str]:
    """What ``python -m model_server`` (or ``... worker``) would refuse in this container."""
    from model_server.serving.cli import SERVER_FLAGS, WORKER_FLAGS, parse_settings, parse_worker_settings

    known = {MODEL_SERVER_PREFIX + f.name.upper() for f in fields(ServerSettings)}
    problems = [f"{container.where}: {name} is not a setting of the model server"
                for name in container.env if name.startswith(MODEL_SERVER_PREFIX) and name not in known]
    problems += [f"{container.where}: {name} is set but nothing reads it" for name in container.env
                 if not name.startswith(MODEL_SERVER_PREFIX) and name not in PLATFORM_VARIABLES]
    for name in list(os.environ):
        if name.startswith(MODEL_SERVER_PREFIX):
            monkeypatch.delenv(name)
    for name, value in container.env.items():
        monkeypatch.setenv(name, value)
    argv = container.argv[3:]
    # argparse takes a flag's prefix too (--worker for --workers): the files spell them in full.
    names = WORKER_FLAGS + ("connect",) if container.program == "model_server worker" else SERVER_FLAGS
    problems += [f"{container.where}: {arg} is not a flag of {container.program} spelled in full"
                 for arg in argv if arg.startswith("--")
                 and arg[2:].split("=")[0] not in {flag_name(n)[2:] for n in names}]
    refusal = io.StringIO()
    try:
        with contextlib.redirect_stderr(refusal):
            if container.program == "model_server worker":
                parse_worker_settings(argv[1:])
            else:
                parse_settings(argv)
    except SystemExit:
        problems.append(f"{container.where}: {container.argv} refused: {refusal.getvalue().strip()}")
    except ValueError as error:  # a variable of the wrong type
        problems.append(f"{container.where}: {error}")
    return problems


def waitress_problems(container: Container) -> list[str]:
    """What ``python -m waitress`` would refuse, and the web app's variables it would not read."""
    from waitress.adjustments import Adjustments

    from flask_server.config import MODEL_SERVER_DEFAULTS, model_server_settings

    try:
        options, args = Adjustments.parse_args(container.argv[3:])
        Adjustments(**{k: v for k, v in options.items() if k not in ("help", "call")})
    except Exception as error:  # getopt's and waitress' own errors, whatever their class
        return [f"{container.where}: waitress refuses {container.argv}: {error}"]
    # getopt takes an option's prefix too (--thread for --threads): the files spell them in full.
    problems = [f"{container.where}: {arg} is not a waitress option spelled in full"
                for arg in container.argv[3:] if arg.startswith("--")
                and arg[2:].split("=")[0].replace("-", "_").removeprefix("no_") not in options]
    if not options.get("call") or len(args) != 1:
        problems.append(f"{container.where}: waitress must be given one app factory with --call")
    elif not callable(resolve_name(args[0])):
        problems.append(f"{container.where}: {args[0]} is not an app factory")
    for name in container.env:
        if name.startswith(MODEL_SERVER_PREFIX) and name not in MODEL_SERVER_DEFAULTS:
            problems.append(f"{container.where}: the web app does not read {name}")
        elif not name.startswith(("FLASK_", MODEL_SERVER_PREFIX)) and name not in PLATFORM_VARIABLES:
            problems.append(f"{container.where}: {name} is set but nothing reads it")
    try:
        model_server_settings(container.env)
    except ValueError as error:
        problems.append(f"{container.where}: {error}")
    return problems


def jupyter_problems(container: Container) -> list[str]:
    from jupyterlab.labapp import LabApp

    app = LabApp()
    try:
        app.parse_command_line(container.argv[2:])
    except SystemExit:
        return [f"{container.where}: jupyter lab refuses {container.argv}"]
    # traitlets keeps an unknown --option=value as a loose value instead of refusing it.
    loose = [key for key, value in app.config.items() if not hasattr(value, "items")]
    problems = [f"{container.where}: jupyter lab has no option --{key}" for key in loose]
    problems += [f"{container.where}: {path} is not a folder of the project"
                 for path in app.extra_args if not (REPO / path).is_dir()]
    return problems


@pytest.mark.parametrize("source", SOURCES)
def test_every_command_flag_and_variable_is_accepted_by_its_program(source, containers, monkeypatch):
    problems = []
    for container in containers[source]:
        if container.program.startswith("model_server"):
            problems += model_server_problems(container, monkeypatch)
        elif container.program == "waitress":
            problems += waitress_problems(container)
        else:
            problems += jupyter_problems(container)
    assert not problems, "\n".join(problems)


def listening_ports(container: Container) -> dict[int, str]:
    """The ports the container's program listens on, by what they are for."""
    if container.program == "waitress":
        from waitress.adjustments import Adjustments

        options, _ = Adjustments.parse_args(container.argv[3:])
        return {int(options["port"]): "http"}
    if container.program == "jupyter lab":
        return {int(arg.split("=")[1]): "http" for arg in container.argv if arg.startswith("--port=")}
    settings = ServerSettings.from_env({k: v for k, v in container.env.items()
                                        if k[len(MODEL_SERVER_PREFIX):].lower() in
                                        {f.name for f in fields(ServerSettings)}})
    flags = dict(arg[2:].split("=", 1) for arg in container.argv if arg.startswith("--") and "=" in arg)
    ports = {port_of(flags.get("http-address", container.env["MODEL_SERVER_HTTP_ADDRESS"])): "http"}
    if container.program == "model_server":
        ports[port_of(flags.get("address", settings.address))] = "frontend"
        backend = flags.get("backend-address", settings.backend_address)
        if backend:
            ports[port_of(backend)] = "backend"
    return ports


def served_paths(container: Container) -> frozenset[str]:
    if container.program == "waitress":
        from flask_server.app import create_app

        return frozenset(rule.rule for rule in create_app({"TESTING": True}).url_map.iter_rules())
    if container.program == "jupyter lab":
        return frozenset({"/api"})
    return MODEL_SERVER_HTTP_PATHS


@pytest.mark.parametrize("source", SOURCES)
def test_probes_ask_paths_the_program_serves_on_the_port_it_listens_on(source, containers):
    problems = []
    for container in containers[source]:
        http = [port for port, role in listening_ports(container).items() if role == "http"]
        for path, port in container.probes:
            if port not in http:
                problems.append(f"{container.where}: probes port {port}; the program's HTTP port is {http}")
            if path not in served_paths(container):
                problems.append(f"{container.where}: probes {path}, which it does not serve")
        if not container.probes:
            problems.append(f"{container.where}: no probe")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("source", SOURCES)
def test_declared_ports_are_the_ports_the_program_listens_on(source, containers):
    problems = []
    for container in containers[source]:
        listening = listening_ports(container)
        if source == "Dockerfile":
            # The image's EXPOSE lists every port its commands may listen on (the model image
            # runs the server, the broker and the workers).
            missing = set(listening) - set(container.ports)
        else:
            missing = set(listening) ^ set(container.ports)
        if missing:
            problems.append(f"{container.where}: declares {sorted(container.ports)}, listens on {sorted(listening)}")
        for port, name in container.ports.items():
            if name and listening.get(port) != name:
                problems.append(f"{container.where}: port {port} is named {name}, but is {listening.get(port)}")
    assert not problems, "\n".join(problems)


# --- the Dockerfile ----------------------------------------------------------------------------

def test_dockerfile_has_a_target_per_tier_each_stopping_on_sigterm_as_a_user(dockerfile):
    for target in [*TIER_EXTRAS, *image_targets(dockerfile).values()]:
        assert target in dockerfile.stages, f"no target {target}"
        user = dockerfile.last(target, "USER")
        assert user is not None and user.arguments.strip() not in ("root", "0"), f"{target} runs as root"
        stop = dockerfile.last(target, "STOPSIGNAL")
        assert stop is not None and stop.arguments.strip() == "SIGTERM", f"{target}: STOPSIGNAL SIGTERM"
        assert dockerfile.healthcheck(target), target


def project_extras() -> dict[str, list[str]]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def requirements_of(extras: list[str]) -> set[str]:
    """The requirements the extras install, with the project's extras they name expanded."""
    found, defined = set(), project_extras()
    for extra in extras:
        for requirement in defined[extra]:
            match = re.fullmatch(r"resnet-zmq-lab\[(.+)\]", requirement)
            found |= requirements_of(match.group(1).split(",")) if match else {requirement}
    return found


@pytest.mark.parametrize("target, extras", TIER_EXTRAS.items())
def test_each_tier_installs_its_extras_and_the_web_tier_no_tensorflow(dockerfile, target, extras):
    installed = [e for run in dockerfile.runs(target) if (e := pip_install_extras(run)) is not None]
    assert installed == [extras]
    assert set(extras) <= set(project_extras()), f"pyproject.toml has no extra {extras}"
    if target == "web":
        names = {re.split(r"[<>=\[ ]", r)[0].lower() for r in requirements_of(extras)}
        assert not names & {"tensorflow", "keras", "openvino"}, names


def test_every_run_is_an_install_the_tests_repeat_or_a_setup_step(dockerfile):
    for stage in dockerfile.stages.values():
        for run in stage.all("RUN"):
            for step in run.arguments.split("&&"):
                step = step.strip()
                assert (pip_install_extras(step) is not None or step == "python -m venv /opt/venv"
                        or step.startswith(SETUP_STEPS)), f"stage {stage.name}: RUN {step!r} is neither"


# --- compose.yaml ------------------------------------------------------------------------------

def test_compose_file_follows_the_compose_specification():
    assert "version" not in compose(), "the compose specification has no version:"
    checked = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                              str(COMPOSE_FILE)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def flag_values(argv: list[str]) -> dict[str, str]:
    """``--name=value`` and ``--name value`` as {name: value}."""
    values, pending = {}, None
    for arg in argv:
        if pending:
            values[pending], pending = arg, None
        elif arg.startswith("--") and "=" in arg:
            name, value = arg[2:].split("=", 1)
            values[name] = value
        elif arg.startswith("--"):
            pending = arg[2:]
    return values


def test_compose_addresses_lead_to_the_ports_the_broker_listens_on():
    services = compose()["services"]
    broker = flag_values(services["broker"]["command"])
    web_address = services["web"]["environment"]["MODEL_SERVER_ADDRESS"]
    assert host_of(web_address) == "broker" and port_of(web_address) == port_of(broker["address"])
    connect = flag_values(services["worker"]["command"])["connect"]
    assert host_of(connect) == "broker" and port_of(connect) == port_of(broker["backend-address"])
    assert broker["workers"] == "0"
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"web"}, "only the web app's port is published"
    assert all(str(p).startswith("127.0.0.1:") for p in services["web"]["ports"])


def test_compose_services_wait_for_a_healthy_broker_and_stop_after_the_drain():
    services = compose()["services"]
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["broker"]["condition"] == "service_healthy"
    assert services["worker"]["deploy"]["replicas"] == 2
    for name, service in services.items():
        assert service["stop_signal"] == "SIGTERM"
        drain = float(service.get("environment", {}).get("MODEL_SERVER_DRAIN_SECONDS", 0))
        assert duration_s(service["stop_grace_period"]) >= drain + 5, name


def test_compose_key_files_are_the_secrets_keygen_writes(tmp_path):
    """Every key file a flag or variable names is a secret mounted into that service, and every
    secret's file is one that ``python -m model_server keygen`` writes."""
    subprocess.run([tool("python"), "-m", "model_server", "keygen", str(tmp_path / "keys")],
                   check=True, capture_output=True, cwd=REPO)
    spec = compose()
    for secret in spec["secrets"].values():
        assert (tmp_path / secret["file"]).is_file(), f"keygen writes no {secret['file']}"
    for name, service in spec["services"].items():
        mounted = {s["target"] if s["target"].startswith("/") else f"/run/secrets/{s['target']}"
                   for s in service.get("secrets", [])}
        flags = flag_values(service.get("command", []))
        named_files = [flags[f] for f in ("secret-key", "server-public-key") if f in flags]
        named_files += [v for k, v in service.get("environment", {}).items() if k.endswith("_KEY")]
        for path in named_files:
            assert path in mounted, f"{name}: {path} is not a mounted secret"
        for directory in [flags[f] for f in ("authorized-clients", "authorized-workers") if f in flags]:
            assert any(Path(m).parent == Path(directory) and m.endswith(".key") for m in mounted), \
                f"{name}: no public key is mounted in {directory}"


# --- Kubernetes --------------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_builds_the_whole_system(builds, overlay):
    kinds = {(o["kind"], o["metadata"]["name"]) for o in builds[overlay]}
    for expected in [("Deployment", "web"), ("Service", "web"), ("HorizontalPodAutoscaler", "web"),
                     ("Deployment", "broker"), ("Service", "broker"), ("Service", "broker-backend"),
                     ("Deployment", "worker"), ("PodDisruptionBudget", "worker"),
                     ("NetworkPolicy", "broker")]:
        assert expected in kinds, f"{overlay} lacks {expected}"
    assert len(of_kind(builds[overlay], "Secret")) == 5


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_kubernetes_object_follows_its_schema(builds, overlay, version):
    problems = []
    for document in builds[overlay]:
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{document['kind']} {document['metadata']['name']}: {error.message} "
                            f"at {'.'.join(map(str, error.path))}")
    assert not problems, "\n".join(problems)


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def deployment_selected(objects: list[dict], selector: dict[str, str]) -> dict:
    found = [d for d in of_kind(objects, "Deployment")
             if selects(selector, d["spec"]["template"]["metadata"]["labels"])]
    assert len(found) == 1, f"{selector} selects {len(found)} Deployments"
    return found[0]


def container_port(container: dict, port: int | str) -> int:
    for declared in container.get("ports", []):
        if port in (declared["containerPort"], declared.get("name")):
            return declared["containerPort"]
    raise AssertionError(f"{container['name']} has no port {port}")


def service_leads_to(objects: list[dict], address: str) -> tuple[dict, int]:
    """The Deployment and container port that ``tcp://SERVICE:PORT`` reaches."""
    service = named(objects, "Service", host_of(address))
    ports = [p for p in service["spec"]["ports"] if p["port"] == port_of(address)]
    assert len(ports) == 1, f"{address}: the Service {host_of(address)} has no port {port_of(address)}"
    (port,) = ports
    deployment = deployment_selected(objects, service["spec"]["selector"])
    return deployment, container_port(the_container(deployment), port["targetPort"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_and_addresses_lead_to_the_ports_the_programs_listen_on(builds, overlay):
    objects = builds[overlay]
    for service in of_kind(objects, "Service"):
        deployment = deployment_selected(objects, service["spec"]["selector"])
        for port in service["spec"]["ports"]:
            container_port(the_container(deployment), port["targetPort"])
    broker = flag_values(the_container(named(objects, "Deployment", "broker"))["args"])
    web_env = {e["name"]: e["value"] for e in the_container(named(objects, "Deployment", "web"))["env"]}
    deployment, port = service_leads_to(objects, web_env["MODEL_SERVER_ADDRESS"])
    assert deployment["metadata"]["name"] == "broker" and port == port_of(broker["address"])
    connect = flag_values(the_container(named(objects, "Deployment", "worker"))["args"])["connect"]
    deployment, port = service_leads_to(objects, connect)
    assert deployment["metadata"]["name"] == "broker" and port == port_of(broker["backend-address"])
    backend = named(objects, "Service", host_of(connect))
    assert backend["spec"].get("publishNotReadyAddresses"), "workers must reach a broker not yet ready"


def admitted(objects: list[dict], deployment: dict) -> dict[int, list[dict] | None]:
    """Port → the pod labels allowed to reach it (None: anyone), by the policies selecting it."""
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    ports: dict[int, list[dict] | None] = {}
    for policy in of_kind(objects, "NetworkPolicy"):
        if not selects(policy["spec"]["podSelector"].get("matchLabels", {}), labels):
            continue
        for rule in policy["spec"].get("ingress", []):
            sources = [peer["podSelector"]["matchLabels"] for peer in rule["from"]] if "from" in rule else None
            for port in rule["ports"]:
                number = container_port(the_container(deployment), port["port"])
                if sources is None or (number in ports and ports[number] is None):
                    ports[number] = None
                else:
                    ports[number] = ports.get(number, []) + sources
    return ports


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_let_only_web_pods_reach_the_frontend_and_only_workers_the_backend(builds, overlay):
    objects = builds[overlay]
    broker = named(objects, "Deployment", "broker")
    args = flag_values(the_container(broker)["args"])
    web, worker = (named(objects, "Deployment", n)["spec"]["template"]["metadata"]["labels"] for n in ("web", "worker"))
    ports = admitted(objects, broker)
    frontend, backend = ports[port_of(args["address"])], ports[port_of(args["backend-address"])]
    assert frontend is not None, "any pod may reach the broker's frontend"
    assert all(selects(peer, web) and not selects(peer, worker) for peer in frontend), frontend
    assert backend is not None, "any pod may reach the broker's backend"
    assert all(selects(peer, worker) and not selects(peer, web) for peer in backend), backend
    for deployment in of_kind(objects, "Deployment"):
        declared = {p["containerPort"] for p in the_container(deployment)["ports"]}
        reachable = set(admitted(objects, deployment))
        assert declared == reachable, f"{deployment['metadata']['name']}: ports {declared}, policies admit {reachable}"


def measured(process: str, figure: str) -> float:
    return max(run[process][figure] for run in footprint() if process in run)


def memory_mib(quantity: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(Mi|Gi)", quantity).groups()
    return float(number) * (1024 if unit == "Gi" else 1)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_and_memory_are_sized_above_the_measured_start_and_footprint(builds, overlay):
    objects = builds[overlay]
    worker = the_container(named(objects, "Deployment", "worker"))
    startup = worker["startupProbe"]
    budget = startup.get("initialDelaySeconds", 0) + startup["periodSeconds"] * startup["failureThreshold"]
    assert budget >= STARTUP_ALLOWANCE * measured("worker", "start_to_ready_s")
    for name, process in (("worker", "worker"), ("broker", "broker"), ("web", "web")):
        container = the_container(named(objects, "Deployment", name))
        limit = memory_mib(container["resources"]["limits"]["memory"])
        assert limit >= MEMORY_ALLOWANCE * measured(process, "rss_after_batches_mib"), name
        requested = memory_mib(container["resources"]["requests"]["memory"])
        assert requested >= measured(process, "rss_after_batches_mib"), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_stop_on_sigterm_within_a_grace_period_beyond_the_drain(builds, overlay, dockerfile):
    targets = image_targets(dockerfile)
    for deployment in of_kind(builds[overlay], "Deployment"):
        container = the_container(deployment)
        env = {**dockerfile.env(targets[container["image"]]),
               **{e["name"]: e["value"] for e in container.get("env", [])}}
        drain = float(env.get("MODEL_SERVER_DRAIN_SECONDS", 0))
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
        pause = float(pre_stop[1]) if pre_stop[:1] == ["sleep"] else 0
        grace = pod_spec(deployment)["terminationGracePeriodSeconds"]
        assert grace >= drain + pause + 5, deployment["metadata"]["name"]
        assert dockerfile.last(targets[container["image"]], "STOPSIGNAL").arguments.strip() == "SIGTERM"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_key_files_named_in_flags_and_variables_are_mounted_from_secrets(builds, overlay):
    objects = builds[overlay]
    for deployment in of_kind(objects, "Deployment"):
        container = the_container(deployment)
        volumes = {v["name"]: v for v in pod_spec(deployment).get("volumes", [])}
        mounts = {m["mountPath"]: volumes[m["name"]] for m in container.get("volumeMounts", [])}

        def secret_keys(mounts: dict[str, dict], directory: str) -> set[str]:
            volume = mounts.get(directory)
            assert volume is not None and "secret" in volume, f"{directory} is no Secret's mount"
            return set(named(objects, "Secret", volume["secret"]["secretName"])["data"])

        flags = flag_values(container.get("args", []))
        files = [flags[f] for f in ("secret-key", "server-public-key") if f in flags]
        files += [e["value"] for e in container.get("env", []) if e["name"].endswith("_KEY")]
        for path in files:
            assert Path(path).name in secret_keys(mounts, str(Path(path).parent)), f"{path} is in no Secret"
        for directory in [flags[f] for f in ("authorized-clients", "authorized-workers") if f in flags]:
            assert any(k.endswith(".key") for k in secret_keys(mounts, directory)), f"{directory} has no public key"


def test_gpu_workers_ask_for_a_gpu_on_gpu_nodes_with_the_gpu_image(builds, dockerfile):
    targets = image_targets(dockerfile)
    gpu = named(builds["gpu"], "Deployment", "worker")
    container = the_container(gpu)
    assert container["resources"]["limits"].get("nvidia.com/gpu") == 1, container["resources"]
    assert pod_spec(gpu)["nodeSelector"] and any(t["key"] == "nvidia.com/gpu" for t in pod_spec(gpu)["tolerations"])
    assert targets[container["image"]].startswith("model-gpu")
    for overlay in set(OVERLAYS) - {"gpu"}:
        cpu = the_container(named(builds[overlay], "Deployment", "worker"))
        assert "nvidia.com/gpu" not in cpu["resources"]["limits"]
        assert not targets[cpu["image"]].startswith("model-gpu")


def test_the_keda_example_scales_the_workers_on_a_metric_the_broker_exports(builds):
    import yaml

    from model_server.protocol import ServerStats
    from model_server.serving.metrics import broker_metrics

    scaled = yaml.safe_load((KUBERNETES / "examples" / "keda-scaledobject.yaml").read_text())
    named(builds["cpu"], "Deployment", scaled["spec"]["scaleTargetRef"]["name"])
    broker = named(builds["cpu"], "Deployment", "broker")
    stats = ServerStats(waiting=0, in_flight=0, max_queue=1, workers=[], batch_sizes={}, requests=0,
                        replies=0, errors={}, workers_lost=0, retries=0, uptime_s=0.0)
    exported = {metric.name for metric in broker_metrics(stats)}
    component = broker["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
    for trigger in scaled["spec"]["triggers"]:
        query = trigger["metadata"]["query"]
        used = set(re.findall(r"\b(model_server_\w+)\b", query))
        assert used and used <= exported, f"{used - exported} are not exported by the broker"
        assert f'app_kubernetes_io_component="{component}"' in query, "the query must read the broker's pods"
