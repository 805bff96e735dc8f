"""Files that ship with jsymnet: the YAML configs and the default model.

The repository keeps them in its top-level ``configs/`` and ``weights/``
folders (the source). An installed wheel carries copies inside the package,
in ``jsymnet/_bundled/`` (``setup.py`` copies them there at build time), so
``jsymnet.enhance(path)`` and ``build_model("lol")`` work from any folder.
This module finds them in either place and knows nothing else of jsymnet.
"""
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLE_DIR = PACKAGE_DIR / "_bundled"      # in an installed wheel
# A source checkout (or an editable install): the repository around the package. In an
# installed wheel the parent is site-packages, which is no source of ours.
SOURCE_ROOT = PACKAGE_DIR.parent if (PACKAGE_DIR.parent / "setup.py").is_file() else None
CONFIGS = "configs"
DEFAULT_MODEL = Path("weights") / "jsymnet_default.pkl"   # configs/default/, real photos
SAMPLE_MODEL = Path("weights") / "jsymnet_sample.pkl"     # configs/sample.yaml, 4 photos


def shipped(relpath):
    """The path of a file that ships with jsymnet (e.g. ``configs/lol.yaml``), or None."""
    for base in _bases():
        path = base / relpath
        if path.is_file():
            return path
    return None


def _bases():
    return [base for base in (BUNDLE_DIR, SOURCE_ROOT) if base is not None]


def resolve_file(path):
    """``path`` as given (absolute, or from the working folder) if it exists, else the
    shipped file of that relative name (``weights/...``, ``configs/...``), else ``path``."""
    path = Path(path).expanduser()
    if path.is_absolute() or path.exists():
        return path
    return shipped(path) or path


def config_names():
    """Names of the shipped configs (``lol``, ``ablations/l1_loss``, ...)."""
    names = set()
    for base in _bases():
        root = base / CONFIGS
        if root.is_dir():
            names.update(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))
    return sorted(names)


def resolve_config(name_or_path):
    """A config file from a path (as :func:`resolve_file`) or a shipped config's name
    (``"lol"``, ``"lol.yaml"``, ``"ablations/l1_loss"``). Returns a Path (which may
    not exist: the caller reports that)."""
    path = resolve_file(name_or_path)
    if path.is_file():
        return path
    name = str(name_or_path)
    name = name[:-5] if name.endswith(".yaml") else name
    found = shipped(Path(CONFIGS) / f"{name}.yaml")
    return found or path


def default_model():
    """The shipped default model, or None where it is absent."""
    return shipped(DEFAULT_MODEL)
