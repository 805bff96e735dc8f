import glob
import os
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
# Files a wheel carries inside the package (jsymnet/_bundled/), so that an installed
# jsymnet finds its configs and its default model from any folder. The repository's
# top-level configs/ and weights/ stay the source; jsymnet/resources.py lists them.
BUNDLED = ["configs/*.yaml", "configs/ablations/*.yaml", "configs/default/*.yaml",
           "weights/jsymnet_default.pkl",
           "weights/jsymnet_bsds.pkl",
           "weights/jsymnet_sample.pkl", "weights/vgg16_codec.pkl"]


class BuildWithResources(build_py):
    """build_py that also copies the shipped configs and default model into the package."""

    def run(self):
        # Start from an empty build/lib/jsymnet: build_py only adds files, so a module moved
        # out of the package since the last build (e.g. to tools/) would ship in the wheel.
        shutil.rmtree(os.path.join(self.build_lib, "jsymnet"), ignore_errors=True)
        super().run()
        for pattern in BUNDLED:
            for src in sorted(glob.glob(os.path.join(HERE, pattern))):
                rel = os.path.relpath(src, HERE)
                dst = os.path.join(self.build_lib, "jsymnet", "_bundled", rel)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copyfile(src, dst)


# PyPI's oneDNN 2.2.0 (runtime + headers), the release Jittor 1.3 expects: jsymnet lays it
# out where Jittor looks (jsymnet/runtime.py), so a fresh machine needs no apt-get.
ONEDNN = 'platform_system == "Linux" and platform_machine == "x86_64"'

setup(
    name="jsymnet",
    version="0.1.0",
    description="Deep Symmetric Network for underexposed image enhancement (ICCV 2021), in Jittor",
    long_description=open(os.path.join(HERE, "README.md")).read()
    if os.path.exists(os.path.join(HERE, "README.md")) else "",
    long_description_content_type="text/markdown",
    packages=find_packages(include=["jsymnet", "jsymnet.*"]),
    python_requires=">=3.9",
    install_requires=[
        "jittor>=1.3.9",
        "numpy<2",  # Jittor 1.3 is built against the NumPy 1 ABI
        "pillow",
        "opencv-python-headless",
        "scikit-image",
        "pyyaml",
        "tqdm",
        f"onednn-cpu-gomp==2021.2.0; {ONEDNN}",
        f"onednn-devel-cpu-gomp==2021.2.0; {ONEDNN}",
    ],
    extras_require={
        "test": ["pytest"],
        # for the PyTorch parity tests and benchmarks/benchmark.py (benchmarks/reference/, not packaged)
        "torch": ["torch"],
        # tools/plot_run.py: a run's loss and validation curves from its log.jsonl
        "plot": ["matplotlib"],
        # train.tensorboard: TensorBoard events (tensorboardX is pure Python; torch's own
        # writer would import torch)
        "tensorboard": ["tensorboardX"],
        # jsymnet-app, the local web page (jsymnet/cli/app.py). Pinned: the page and its
        # browser test are written against this release. pandas (a Gradio dependency) 3
        # needs NumPy 2, which Jittor 1.3 cannot load.
        "app": ["gradio==6.31.0", "pandas<3"],
        # tests/test_app_browser.py drives a real Chromium (Debian's chromium and
        # chromium-driver) through Selenium
        "browser": ["selenium"],
    },
    entry_points={
        "console_scripts": [
            "jsymnet-enhance = jsymnet.cli.enhance:main",
            "jsymnet-test = jsymnet.cli.evaluate:main",
            "jsymnet-train = jsymnet.cli.train:main",
            "jsymnet-convert = jsymnet.cli.convert:main",
            "jsymnet-app = jsymnet.cli.app:main",
        ],
    },
    cmdclass={"build_py": BuildWithResources},
)
