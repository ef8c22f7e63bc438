"""The README stays short, and every link in it and in ``docs/`` leads somewhere.

The README is what a learner reads to the end; the depth lives in ``docs/``, one page per topic,
each reachable from the README. A page nobody links to, a file that moved, or a heading that was
renamed under a ``#anchor`` fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lab.learner import stubs

REPO_ROOT = Path(__file__).resolve().parent.parent
README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"
DOCUMENTS = [README, *sorted(DOCS.glob("*.md"))]
README_MAX_LINES = 300

FENCED_BLOCK = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"`[^`\n]*`")
#: ``[text](target)`` and ``![alt](target)``, with an optional "title" after the target.
LINK = re.compile(r"\[[^\]]*\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def without_code(markdown: str) -> str:
    """The text outside code: a ``[x](y)`` or a ``# line`` inside a code block is neither a link nor a heading."""
    return INLINE_CODE.sub("", FENCED_BLOCK.sub("", markdown))


def anchor_of(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor in a Markdown file; a repeated heading gets -1, -2 … as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCED_BLOCK.sub("", path.read_text())):
        anchor = anchor_of(heading)
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        found.add(anchor if count == 0 else f"{anchor}-{count}")
    return found


def relative_links(path: Path) -> list[str]:
    return [target for target in LINK.findall(without_code(path.read_text()))
            if not EXTERNAL.match(target)]


def broken_links(path: Path) -> list[str]:
    """Each relative link of ``path`` whose file does not exist, or whose #anchor names no heading there."""
    broken = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    return broken


def test_the_readme_is_short_enough_to_read_to_the_end():
    lines = README.read_text().count("\n")
    assert lines < README_MAX_LINES, f"README.md has {lines} lines; move reference material to docs/"


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(README.parent / target.partition("#")[0]).resolve() for target in relative_links(README)}
    pages = sorted(DOCS.glob("*.md"))
    assert len(pages) >= 6
    unlinked = [page.name for page in pages if page.resolve() not in linked]
    assert not unlinked, f"README.md links to no docs/ page named {unlinked}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading(document):
    assert not broken_links(document), f"{document.relative_to(REPO_ROOT)}: {broken_links(document)}"


def test_a_link_to_a_missing_file_or_heading_is_found(tmp_path):
    """The check itself: a moved file and a renamed heading are both caught, code is not read as links."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("# Reliability: deadlines, `heartbeats`\n\n## Probes\n\n## Probes\n")
    readme = tmp_path / "README.md"
    readme.write_text(
        "[ok](docs/page.md#reliability-deadlines-heartbeats) [ok](docs/page.md#probes-1) [web](https://x.org/a)\n"
        "[gone](docs/moved.md) [renamed](docs/page.md#security) [here](#nowhere)\n"
        "`[code](not/a/link.md)`\n```\n[block](not/a/link.md)\n```\n")
    assert broken_links(readme) == ["docs/moved.md: no such file",
                                    "docs/page.md#security: no heading #security in page.md",
                                    "#nowhere: no heading #nowhere in README.md"]


# --- the README's notebooks table and the notebooks -------------------------------------------------

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TABLE_ROW = re.compile(r"^\| `(\d\d_[^`]+\.ipynb)` \| (.+) \|$", re.MULTILINE)
EXERCISE_FILE = re.compile(r"exercises/(\w+)\.py")


def notebooks_table() -> dict[str, str]:
    return {name: text for name, text in TABLE_ROW.findall(README.read_text())}


def exercise_files_of(notebook: Path) -> set[str]:
    """The ``exercises/*.py`` files a notebook's cells name (where its learner writes)."""
    import nbformat

    cells = nbformat.read(notebook, as_version=4).cells
    return {f"exercises/{name}.py" for cell in cells for name in EXERCISE_FILE.findall(cell.source)
            if name != "__init__"}


def test_the_readme_lists_every_notebook_in_order() -> None:
    assert list(notebooks_table()) == [path.name for path in NOTEBOOKS]


def written_in(notebook: Path) -> set[str]:
    """The exercise files whose checks are this notebook's (``tests/exercises/test_nb04_*.py``)."""
    return {f"exercises/{module}.py" for module in stubs.modules()
            if stubs.notebook_of(module) == f"nb{notebook.name[:2]}"}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_each_notebooks_row_names_the_files_its_learner_writes(notebook: Path) -> None:
    """A row that forgets an exercise file, or names one the notebook does not use, disagrees with it."""
    row = notebooks_table()[notebook.name]
    in_row = {f"exercises/{name}.py" for name in EXERCISE_FILE.findall(row)}
    assert written_in(notebook) <= in_row, f"the row does not name {written_in(notebook) - in_row}"
    assert in_row <= exercise_files_of(notebook), f"the notebook never names {in_row - exercise_files_of(notebook)}"
