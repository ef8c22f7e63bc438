"""The notebooks' text stays true as the notebooks change.

Every sentence that names "notebook NN" speaks of something NN shows (``notebook_topics``); no
library version is typed in (notebook 01 prints the installed ones); no words from the project's
tracker; every figure with a unit is computed by a cell, the original write-up's, or listed with
its reason; and each notebook opens with what the learner will build and about how long it takes.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from model_server.serving.settings import ServerSettings
from notebook_topics import ALLOWED_FIGURES, TOPICS

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))

REFERENCE = re.compile(r"[Nn]otebooks? (\d\d)(?:\s?[–-]\s?(\d\d))?")
#: A dotted version (4.3.5, not 127.0.0.1), or a library's name followed by a number.
VERSION = re.compile(r"(?<![\d.])\d+\.\d+\.\d+(?![\d.])"
                     r"|\b(?:libzmq|pyzmq|ipywidgets|TensorFlow|Keras|Flask|OpenVINO|JupyterLab|NumPy|Pillow)"
                     r" \d", re.IGNORECASE)
TRACKER = re.compile(r"\bissues?\b|\btracker\b|(?<![\w&])#\d+\b", re.IGNORECASE)
UNIT = r"(?:ms|s|seconds?|minutes?|×|%|MB|MiB|GB|GiB|KB|KiB|img/s|req/s)"
FIGURE = re.compile(r"~?\d[\d,.]*(?:[–-]\d[\d,.]*)?\s?" + UNIT + r"(?!\w)")
DURATION = re.compile(r"\*\*Time:\*\* about \d+ minutes")


def markdown_cells(path: Path) -> list[str]:
    return [cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "markdown"]


def sentences(text: str) -> list[str]:
    """The text's sentences, on one line each (code blocks left out: they hold no claims)."""
    prose = re.sub(r"```.*?```", " ", text, flags=re.DOTALL).replace("\n", " ")
    return [s for s in re.split(r"(?<=[.!?])\s+", prose) if s.strip()]


def stale_references(text: str) -> list[str]:
    """Each sentence naming a notebook none of whose topics it speaks of, with that notebook."""
    stale = []
    for sentence in sentences(text):
        for match in REFERENCE.finditer(sentence):
            first = int(match[1])
            last = int(match[2]) if match[2] else first
            for number in (f"{n:02d}" for n in range(first, last + 1)):
                if not any(topic.lower() in sentence.lower() for topic in TOPICS[number]):
                    stale.append(f"notebook {number}: {sentence}")
    return stale


def unexplained_figures(notebook: str, text: str) -> list[str]:
    """Figures with a unit that are neither the write-up's (a sentence that names the write-up, or
    "the original's 30×") nor listed with their reason."""
    found = []
    for sentence in sentences(text):
        if "write-up" in sentence.lower() or DURATION.search(sentence):
            continue
        found += [f"{match[0]!r} in: {sentence}" for match in FIGURE.finditer(sentence)
                  if not sentence[:match.start()].endswith("original's ")
                  and (notebook, match[0].strip()) not in ALLOWED_FIGURES]
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_named_is_named_for_what_it_shows(path):
    stale = [line for text in markdown_cells(path) for line in stale_references(text)]
    assert not stale, "\n".join(stale)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_library_version_and_no_tracker_words_are_typed_in(path):
    text = "\n".join(markdown_cells(path))
    assert not VERSION.findall(text), f"typed-in versions (print the installed ones): {VERSION.findall(text)}"
    assert not TRACKER.findall(text), f"words from the tracker: {TRACKER.findall(text)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_typed_in_figure_is_the_originals_or_listed_with_its_reason(path):
    figures = [line for text in markdown_cells(path) for line in unexplained_figures(path.name[:2], text)]
    assert not figures, ("compute these in a cell, or list them in notebook_topics.ALLOWED_FIGURES:\n"
                         + "\n".join(figures))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_opens_with_what_you_build_and_how_long_it_takes(path):
    opening = markdown_cells(path)[0]
    assert "**What you will build:**" in opening, opening
    assert DURATION.search(opening), f"no '**Time:** about N minutes' in the first cell of {path.name}"


def test_the_settings_typed_into_notebooks_08_and_09_are_the_defaults():
    defaults = ServerSettings()
    assert (f"{defaults.max_delay_ms:g} ms", f"{defaults.heartbeat_interval_s:g} s") == ("20 ms", "1 s")
    assert {("08", "20 ms"), ("09", "1 s")} <= set(ALLOWED_FIGURES)


@pytest.mark.parametrize("planted", [
    "The Lazy Pirate, as notebook 06's client does after a timeout.",
    "The forward pass (notebook 04's stage timings) is most of it.",
    "Notebooks 04–07 sent one request at a time.",
])
def test_a_planted_stale_reference_is_found(planted):
    assert stale_references(planted)


def test_planted_versions_tracker_words_and_figures_are_found():
    assert VERSION.findall("With the libzmq this lab installs (4.3.5)") and VERSION.findall("ipywidgets 8")
    assert not VERSION.findall("listen on tcp://127.0.0.1:5576")
    assert TRACKER.findall("the issue measured it") and TRACKER.findall("see #21")
    assert unexplained_figures("08", "On a Xeon with AMX it took 23.7 ms at batch 1.")
    assert not unexplained_figures("02", "The original write-up saw 10–21 s.")
    assert not unexplained_figures("02", "Which one looks like the original's 10–21 s?")
    assert unexplained_figures("04", "The original's design answered in 280 ms against our 408 ms.")
