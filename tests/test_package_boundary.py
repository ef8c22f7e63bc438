"""The package's layout is its architecture: which code the web app runs, which the model server
runs, and which needs TensorFlow.

- The client side (``model_server``'s own modules) and the web app load none of the serving side,
  no TensorFlow, no OpenVINO and no ZAP authenticator thread: checked in a fresh interpreter.
- The serving side and the models load no TensorFlow or OpenVINO until a classifier is loaded.
- Only ``model_server/models/`` imports TensorFlow, Keras or OpenVINO at all.
- Dependencies point one way: no import cycle between the modules of ``model_server`` or the
  repository's packages, and neither the client side nor the models import the serving side.
- The web app serves predictions in a Python where TensorFlow and Keras cannot load.
- ``lab/nbNN_<notebook>/`` serves notebook NN and later ones only, and each is used by its own.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest

from harness.processes import REPO_ROOT
from harness.sample_images import photo

#: What the web app and the clients import.
CLIENT_SIDE = [
    "model_server.client", "model_server.protocol", "model_server.images", "model_server.keys",
    "model_server.curve", "model_server.environment", "model_server.test_client", "flask_server.app",
]
#: What none of them may load, directly or through another module.
SERVING_SIDE = ("model_server.serving", "model_server.models", "zmq.auth.thread")
HEAVY = ("tensorflow", "keras", "openvino")
#: The repository's packages whose imports must not form a cycle.
PACKAGES = ("model_server", "flask_server", "harness", "lab", "benchmarks", "exercises", "solutions")
#: The layers above the system, each allowed to import only what is below it: the notebooks'
#: helpers and the benchmark run the system through the harness, the harness runs the system.
SYSTEM = ("model_server", "flask_server")
MAY_IMPORT = {
    "harness": ("harness", *SYSTEM),
    "model_server": SYSTEM,
    "flask_server": SYSTEM,
}

#: Runs in a fresh interpreter: imports the modules named in argv and prints, as JSON, each
#: forbidden module that got loaded and the first line of the repository that led to it.
WHO_LOADED = textwrap.dedent(
    """
    import importlib, importlib.abc, json, sys, traceback

    modules, forbidden = sys.argv[1].split(","), tuple(sys.argv[2].split(","))
    culprits = {}

    def is_forbidden(name):
        return any(name == f or name.startswith(f + ".") for f in forbidden)

    class Record(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if is_forbidden(name) and name not in culprits:
                ours = [frame for frame in traceback.extract_stack()
                        if frame.filename.startswith(sys.argv[3]) and "<frozen" not in frame.filename]
                culprits[name] = f"{ours[-1].filename}:{ours[-1].lineno}" if ours else "?"
            return None

    sys.meta_path.insert(0, Record())
    for module in modules:
        importlib.import_module(module)
    loaded = sorted(name for name in sys.modules if is_forbidden(name))
    print(json.dumps({name: culprits.get(name, "?") for name in loaded}))
    """
)


def loaded_in_fresh_python(modules: list[str], forbidden: tuple[str, ...]) -> dict[str, str]:
    """The forbidden modules that importing ``modules`` loads, each with the line that did it."""
    result = subprocess.run(
        [sys.executable, "-c", WHO_LOADED, ",".join(modules), ",".join(forbidden),
         str(REPO_ROOT) + "/"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def explain(loaded: dict[str, str]) -> str:
    top = {name: line for name, line in loaded.items() if "." not in name or name in SERVING_SIDE}
    shown = top or loaded
    return "; ".join(f"{name} (imported at {line})" for name, line in sorted(shown.items()))


@pytest.mark.parametrize("module", CLIENT_SIDE)
def test_the_client_side_loads_no_server_machinery_and_no_tensorflow(module):
    loaded = loaded_in_fresh_python([module], SERVING_SIDE + HEAVY)
    assert not loaded, (
        f"importing {module} loads {explain(loaded)}: the web app and the clients must run "
        "without the model server's code and without TensorFlow or OpenVINO"
    )


def serving_modules() -> list[str]:
    root = REPO_ROOT / "model_server"
    return sorted(module_name(path) for sub in ("serving", "models")
                  for path in (root / sub).rglob("*.py"))


def test_the_server_and_the_models_load_no_tensorflow_until_a_classifier_is_loaded():
    """A model server's parent (the worker supervisor) and a pure broker never load TensorFlow;
    the models import it inside ``load``, so that its import is timed there."""
    loaded = loaded_in_fresh_python(serving_modules(), HEAVY)
    assert not loaded, f"importing the serving side loads {explain(loaded)}; import it lazily"


# --- imports read from the source: also the ones inside functions ---------------------------------


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, at_run_time: bool = False) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function, by its absolute name."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    return imports_in(path.read_text(), str(path), package, at_run_time)


def imports_in(source: str, filename: str, package: list[str], at_run_time: bool = False) -> set[str]:
    """Every module ``source`` imports (relative ones resolved within ``package``); with
    ``at_run_time``, not those in ``if TYPE_CHECKING:`` blocks, which only the type checker reads."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if (at_run_time and isinstance(node, ast.If) and isinstance(node.test, ast.Name)
                and node.test.id == "TYPE_CHECKING"):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = (".".join(package[: len(package) - node.level + 1] + [node.module or ""]).strip(".")
                    if node.level else node.module)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source, filename))
    return found


def import_graph() -> dict[str, set[str]]:
    """Module → the modules of the repository it imports (``from package import module`` too)."""
    paths = [path for package in PACKAGES for path in (REPO_ROOT / package).rglob("*.py")]
    modules = {module_name(path): path for path in paths}
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        for imported in imports_of(path):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != module:
                graph[module].add(imported)
    for module in modules:
        graph.setdefault(module, set())
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def grouped(graph: dict[str, set[str]], group) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = defaultdict(set)
    for module, imported in graph.items():
        groups[group(module)].update(group(other) for other in imported if group(other) != group(module))
    return groups


def side_of(module: str) -> str:
    """``model_server.serving`` and ``model_server.models`` for theirs, else the top package.

    ``python -m model_server`` (``model_server.__main__``) is a side of its own: the entry point
    that dispatches to the server, above everything else.
    """
    parts = module.split(".")
    if parts[0] == "model_server" and len(parts) > 1 and parts[1] in ("serving", "models", "__main__"):
        return ".".join(parts[:2])
    return parts[0]


def described(found: list[list[str]], graph: dict[str, set[str]]) -> str:
    return "; ".join(
        ", ".join(f"{node} -> {other}" for node in cycle for other in sorted(graph[node] & set(cycle)))
        for cycle in found
    )


def test_no_module_of_model_server_imports_itself_through_others():
    graph = {m: i for m, i in import_graph().items() if m.startswith("model_server")}
    found = cycles(graph)
    assert not found, f"import cycles: {described(found, graph)}"


def test_the_packages_depend_on_each_other_one_way():
    graph = grouped(import_graph(), side_of)
    found = cycles(graph)
    assert not found, f"import cycles between packages: {described(found, graph)}"


def test_neither_the_client_side_nor_the_models_import_the_serving_side():
    """Not even inside a function, where the fresh-interpreter check above cannot see it."""
    wrong = sorted(
        f"{module} imports {other}"
        for module, imported in import_graph().items()
        if side_of(module) in ("model_server", "model_server.models")
        for other in imported
        if side_of(other) == "model_server.serving"
        or (side_of(module) == "model_server" and side_of(other) == "model_server.models")
    )
    assert wrong == []


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_a_layer_imports_only_what_is_below_it(package: str) -> None:
    """The harness never imports ``lab``, ``benchmarks`` or the answers; the system none of them."""
    wrong = sorted(
        f"{module} imports {other}"
        for module, imported in import_graph().items()
        if module.split(".")[0] == package
        for other in imported
        if other.split(".")[0] not in MAY_IMPORT[package]
    )
    assert wrong == []


def test_only_the_models_import_tensorflow_keras_or_openvino():
    wrong = sorted(
        f"{module_name(path)} imports {imported}"
        for package in ("model_server", "flask_server")
        for path in (REPO_ROOT / package).rglob("*.py")
        if not path.is_relative_to(REPO_ROOT / "model_server" / "models")
        for imported in imports_of(path)
        if imported.split(".")[0] in HEAVY
    )
    assert wrong == []


# --- the web app at work, with TensorFlow blocked --------------------------------------------------

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
    image_path.write_bytes(photo())
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


# --- lab/: a notebook's helpers serve that notebook and the ones after it --------------------------

#: ``lab.nbNN_<notebook>``: the folder of notebook NN's helpers.
NOTEBOOK_FOLDER = re.compile(r"^lab\.nb(\d\d)_")


def notebook_folders(imported: set[str]) -> set[int]:
    """The numbers of the notebooks whose ``lab`` folder is among ``imported``."""
    return {int(match[1]) for name in imported if (match := NOTEBOOK_FOLDER.match(name))}


def notebook_code(path: Path) -> str:
    """A notebook's code cells as one Python source; IPython's ``%`` and ``!`` lines left out."""
    cells = json.loads(path.read_text())["cells"]
    return "\n".join(line for cell in cells if cell["cell_type"] == "code"
                     for line in "".join(cell["source"]).splitlines()
                     if not line.lstrip().startswith(("%", "!")))


def notebook_folders_of_notebook(path: Path) -> set[int]:
    """The notebooks whose ``lab`` folder the notebook at ``path`` imports in its code cells."""
    return notebook_folders(imports_in(notebook_code(path), str(path), [], at_run_time=True))


def too_early(importer: str, number: int | None, imported: set[int]) -> list[str]:
    """``importer`` (of notebook ``number``, or shared by all if ``None``) importing a later
    notebook's folder, or any notebook's folder if it is shared."""
    return [f"{importer} imports lab's folder of notebook {other:02d}"
            for other in sorted(imported) if number is None or other > number]


def test_a_notebooks_helpers_are_imported_by_it_and_later_notebooks_only():
    """A learner who has run notebooks 01-04 has run every helper those notebooks use: nothing
    in ``lab/nb04_…`` may need notebook 05's. Shared modules (``show``, ``learner``, ...) import
    no notebook's folder at run time (a type in ``if TYPE_CHECKING:`` is no import)."""
    wrong = []
    for path in sorted((REPO_ROOT / "lab").rglob("*.py")):
        module = module_name(path)
        folder = NOTEBOOK_FOLDER.match(module)
        wrong += too_early(module, int(folder[1]) if folder else None,
                           notebook_folders(imports_of(path, at_run_time=True)))
    for path in sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        wrong += too_early(path.name, int(path.name[:2]), notebook_folders_of_notebook(path))
    assert wrong == []


def test_every_notebook_folder_of_lab_is_used_by_its_notebook():
    folders = sorted(int(path.name[2:4]) for path in (REPO_ROOT / "lab").glob("nb[0-9][0-9]_*") if path.is_dir())
    notebooks = {int(path.name[:2]): path for path in (REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    unused = [number for number in folders
              if number not in notebook_folders_of_notebook(notebooks[number])]
    assert folders and unused == []
