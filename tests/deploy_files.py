"""The deployment files read as data: the Dockerfile's stages, compose.yaml, the kustomize builds.

``tests/test_deploy.py`` checks them against the programs' own parsers and each other;
``tests/test_deploy_install.py`` runs the web tier's install and command on this machine.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"
COMPOSE_FILE = REPO / "compose.yaml"
KUBERNETES = REPO / "deploy" / "kubernetes"
OVERLAYS = sorted(path.name for path in (KUBERNETES / "overlays").iterdir() if path.is_dir())
FOOTPRINT_RESULTS = REPO / "benchmarks" / "results" / "footprint.jsonl"
#: What the model server and its remote workers serve on --http-address (MODEL_SERVER_HTTP_ADDRESS),
#: by the probes contract of issue 20.
MODEL_SERVER_HTTP_PATHS = frozenset({"/livez", "/readyz", "/metrics"})
#: The tools the test extra installs into the environment running the tests.
TOOLS = Path(sys.executable).parent


def tool(name: str) -> str:
    """A command-line tool of this environment (the test extra's), else one on PATH."""
    path = TOOLS / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed: pip install -e '.[test]'")
    return found


# --- the Dockerfile ----------------------------------------------------------------------------

@dataclass
class Instruction:
    keyword: str
    arguments: str

    def exec_form(self) -> list[str]:
        """``["python", "-m", ...]`` as a list; a shell form as the shell would split it."""
        text = self.arguments.strip()
        return json.loads(text) if text.startswith("[") else shlex.split(text)


@dataclass
class Stage:
    name: str
    parent: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def _logical_lines(text: str) -> list[str]:
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    return lines


class Dockerfile:
    """The stages of a Dockerfile and what a target inherits through its ``FROM`` chain."""

    def __init__(self, text: str):
        self.global_args: dict[str, str] = {}
        self.stages: dict[str, Stage] = {}
        stage: Stage | None = None
        for line in _logical_lines(text):
            keyword, _, arguments = line.partition(" ")
            keyword = keyword.upper()
            if keyword == "ARG" and stage is None:
                name, _, default = arguments.partition("=")
                self.global_args[name.strip()] = default.strip()
            elif keyword == "FROM":
                words = arguments.split()
                parent = words[0]
                for name, value in self.global_args.items():
                    parent = parent.replace("${" + name + "}", value)
                name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else parent
                stage = self.stages[name] = Stage(name, parent)
            else:
                assert stage is not None, f"{keyword} before FROM"
                stage.instructions.append(Instruction(keyword, arguments))

    @classmethod
    def read(cls, path: Path = DOCKERFILE) -> Dockerfile:
        return cls(path.read_text())

    def chain(self, target: str) -> list[Stage]:
        """The stages ``target`` is built on, the first (from an image) first."""
        stages = []
        name: str | None = target
        while name in self.stages:
            stages.insert(0, self.stages[name])
            name = self.stages[name].parent
        return stages

    def last(self, target: str, keyword: str) -> Instruction | None:
        found = [i for stage in self.chain(target) for i in stage.all(keyword)]
        return found[-1] if found else None

    def env(self, target: str) -> dict[str, str]:
        env: dict[str, str] = {}
        for stage in self.chain(target):
            for instruction in stage.all("ENV"):
                for word in shlex.split(instruction.arguments):
                    name, _, value = word.partition("=")
                    env[name] = value
        return env

    def command(self, target: str) -> list[str]:
        """ENTRYPOINT and CMD together: what a container of ``target`` runs."""
        entrypoint, cmd = self.last(target, "ENTRYPOINT"), self.last(target, "CMD")
        return (entrypoint.exec_form() if entrypoint else []) + (cmd.exec_form() if cmd else [])

    def healthcheck(self, target: str) -> list[str]:
        """The HEALTHCHECK's command (its exec form), without its options."""
        instruction = self.last(target, "HEALTHCHECK")
        assert instruction is not None, f"{target} has no HEALTHCHECK"
        _, _, command = instruction.arguments.partition("CMD ")
        return json.loads(command)

    def build_stages(self, target: str) -> list[Stage]:
        """Every stage whose instructions go into ``target``: its chain, and the chains of the
        stages it copies from (``COPY --from=``), each once, dependencies first."""
        ordered: list[Stage] = []
        for stage in self.chain(target):
            for copy in stage.all("COPY"):
                for word in copy.arguments.split():
                    if word.startswith("--from="):
                        for built in self.build_stages(word.removeprefix("--from=")):
                            if built not in ordered:
                                ordered.append(built)
            if stage not in ordered:
                ordered.append(stage)
        return ordered

    def runs(self, target: str) -> list[str]:
        return [run.arguments for stage in self.build_stages(target) for run in stage.all("RUN")]

    def copies(self, target: str) -> list[tuple[str, list[str], str]]:
        """``(workdir, sources, destination)`` of each ``COPY`` from the build context."""
        copies = []
        for stage in self.build_stages(target):
            inherited = self.last(stage.parent, "WORKDIR") if stage.parent in self.stages else None
            workdir = inherited.arguments.strip() if inherited else "/"
            for instruction in stage.instructions:
                if instruction.keyword == "WORKDIR":
                    workdir = instruction.arguments.strip()
                if instruction.keyword == "COPY":
                    words = [w for w in instruction.arguments.split() if not w.startswith("--chown")]
                    if any(w.startswith("--from=") for w in words):
                        continue
                    copies.append((workdir, words[:-1], words[-1]))
        return copies


def pip_install_extras(command: str) -> list[str] | None:
    """The extras of ``pip install ".[a,b]"`` (or ``-e``), or None if it is no such command."""
    words = shlex.split(command)
    if words[:2] != ["pip", "install"]:
        return None
    targets = [w for w in words[2:] if not w.startswith("-")]
    assert len(targets) == 1 and targets[0].startswith(".["), f"not a project install: {command}"
    return targets[0][2:-1].split(",")


# --- compose.yaml and the kustomize builds -----------------------------------------------------

def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def build_overlay(overlay: str, workspace: Path) -> list[dict]:
    """``kubectl kustomize`` of an overlay, in a copy of deploy/kubernetes whose base has keys
    (what ``python -m model_server keygen`` writes: the Secrets are generated from them)."""
    copy = workspace / "kubernetes"
    if not copy.exists():
        shutil.copytree(KUBERNETES, copy, ignore=shutil.ignore_patterns("keys"))
        subprocess.run([sys.executable, "-m", "model_server", "keygen", str(copy / "base" / "keys")],
                       check=True, capture_output=True, cwd=REPO)
    built = subprocess.run([tool("kubectl"), "kustomize", str(copy / "overlays" / overlay)],
                           check=True, capture_output=True, text=True)
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


def port_of(address: str) -> int:
    """The port of ``tcp://HOST:PORT``, ``HOST:PORT`` or ``http://HOST:PORT/path``."""
    if "://" not in address:
        address = "tcp://" + address
    port = urlsplit(address).port
    assert port is not None, f"{address} names no port"
    return port


def host_of(address: str) -> str:
    if "://" not in address:
        address = "tcp://" + address
    return urlsplit(address).hostname or ""


def duration_s(text: str | int | float) -> float:
    """Compose's ``15s``, ``1m30s`` as seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    seconds, number = 0.0, ""
    units = {"h": 3600, "m": 60, "s": 1}
    for char in text:
        if char.isdigit() or char == ".":
            number += char
        else:
            seconds += float(number) * units[char]
            number = ""
    return seconds + (float(number) if number else 0.0)


def footprint() -> list[dict]:
    """The runs of ``python -m benchmarks.sections.footprint`` the manifests were sized from."""
    return [json.loads(line) for line in FOOTPRINT_RESULTS.read_text().splitlines() if line.strip()]
