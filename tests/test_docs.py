"""The documentation holds: every Python example runs, as a newcomer would paste it.

Every ```python block of README.md, of each page of docs/ and of weights/MODEL_CARD.md
runs in an empty folder that holds one small dark photo, ``photo.jpg`` (the examples
that enhance a photo name it), each block in a fresh namespace. Examples that need
data a user may not have, or a GPU, are ```bash blocks and are not run.

Beside the examples: the README stays short, pages name no path outside the
repository and no tracker issue, and every relative link points at a file that exists.
"""
import os
import re

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from jsymnet import registry

README_MAX_LINES = 250
PAGES = ["README.md"] + sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))
PAGES += [p for p in ["weights/MODEL_CARD.md"] if (ROOT / p).is_file()]
PROSE = [p for p in PAGES if not p.startswith("weights/")]   # the pages newcomers read
PYTHON = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE = re.compile(r"^```.*?^```|`[^`\n]*`", re.S | re.M)    # fenced blocks, inline code


def text(page):
    return (ROOT / page).read_text(encoding="utf-8")


def blocks(page):
    return PYTHON.findall(text(page))


EXAMPLES = [(page, i, code) for page in PAGES for i, code in enumerate(blocks(page))]


def test_the_readme_is_short_and_has_python_examples():
    lines = text("README.md").splitlines()
    assert len(lines) <= README_MAX_LINES, \
        f"README.md has {len(lines)} lines; at most {README_MAX_LINES} (move detail to docs/)"
    assert len(blocks("README.md")) >= 3


@pytest.mark.parametrize("page", PROSE)
def test_pages_name_nothing_outside_the_repository(page):
    body = text(page)
    assert "../shared" not in body, f"{page} names ../shared, which users do not have"
    found = re.findall(r"issue [0-9]+", body, re.I)
    assert not found, f"{page} cites the tracker ({', '.join(found)}): say what, not where"


@pytest.mark.parametrize("page", PAGES)
def test_relative_links_point_at_files(page):
    base = (ROOT / page).parent
    missing = []
    for target in LINK.findall(CODE.sub("", text(page))):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue                                  # a URL, or a heading of the same page
        path = target.split("#", 1)[0]
        if not (base / path).exists():
            missing.append(target)
    assert not missing, f"{page} links to missing files: {missing}"


@pytest.fixture
def clean_registries():
    """The part tables as they were: an example that registers a part of its own must not
    leave it behind for the other tests (or for itself, run again)."""
    tables = [t for t in vars(registry).values() if isinstance(t, registry.Registry)]
    for table in tables:
        table._load()
    saved = [(t, dict(t._items), dict(t._options), dict(t._checks)) for t in tables]
    yield
    for table, items, options, checks in saved:
        table._items, table._options, table._checks = items, options, checks


@pytest.mark.parametrize("page, index, code", EXAMPLES,
                         ids=[f"{page}:{i + 1}" for page, i, _ in EXAMPLES])
def test_python_example_runs(page, index, code, tmp_path, monkeypatch, clean_registries):
    if "photo.jpg" in code:
        rng = np.random.RandomState(index)
        dark = (rng.rand(48, 64, 3) * 60).astype(np.uint8)
        Image.fromarray(dark).save(tmp_path / "photo.jpg")
    monkeypatch.chdir(tmp_path)                 # shipped files are found by their names
    namespace = {"__name__": f"docs_example_{index + 1}"}
    exec(compile(code, f"{page} python block {index + 1}", "exec"), namespace)
    assert os.getcwd() == str(tmp_path)
