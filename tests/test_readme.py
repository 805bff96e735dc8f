"""Every Python example in README.md runs, as a newcomer would paste it.

The examples run in an empty folder that holds one photo, ``photo.jpg`` (the
README's enhance examples name it).
"""
import os
import re

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT

README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_example_runs(index, tmp_path, monkeypatch):
    code = BLOCKS[index]
    if "photo.jpg" in code:
        rng = np.random.RandomState(index)
        dark = (rng.rand(48, 64, 3) * 60).astype(np.uint8)
        Image.fromarray(dark).save(tmp_path / "photo.jpg")
    monkeypatch.chdir(tmp_path)                 # shipped files are found by their names
    namespace = {"__name__": f"readme_example_{index}"}
    exec(compile(code, f"README.md python block {index + 1}", "exec"), namespace)
    assert os.getcwd() == str(tmp_path)
