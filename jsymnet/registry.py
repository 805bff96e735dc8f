"""Name -> part tables: configs and command lines name parts by string.

One mechanism serves every kind of part. Each table is defined here, with the
config section its parts' options live in and the package that holds the built-in
parts:

===============  ==================  ======================  =========================
table            config key          built-ins               a part is
===============  ==================  ======================  =========================
``CODECS``       ``model.codec``     ``jsymnet.models``      a class with
                                                             ``from_config(section,
                                                             load_weights)``
``SUBNETS``      ``model.subnet``    ``jsymnet.models``      a class ``cls(in_channels,
                                                             out_channels, section)``
``EXPOSURES``    ``model.exposure``  ``jsymnet.models``      ``cls(section)``: a stage
                                                             with ``apply(input,
                                                             output)``, or None
``DATASETS``     ``data``            ``jsymnet.data``        a
                                                             :class:`~jsymnet.data.
                                                             datasets.DatasetKind`
``LOSSES``       ``train.loss``      ``jsymnet.losses``      a :class:`~jsymnet.losses.
                                                             LossKind`
``OPTIMIZERS``   ``train.optim``     ``jsymnet.engine.optim``  a class ``cls(params,
                                                             **options)``
===============  ==================  ======================  =========================

A part registers itself, and declares its options beside itself::

    from jsymnet.config import Field
    from jsymnet.registry import SUBNETS

    @SUBNETS.register("tiny", options={"tiny_width": Field(16, low=1, high=4096)})
    class Tiny(jt.Module):
        def __init__(self, in_channels, out_channels, section): ...

The config schema is assembled from the tables (:func:`jsymnet.config.schema`):
the section's ``type`` key takes the registered names, and every registered option
becomes a key of the section, checked by its :class:`~jsymnet.config.Field`
(type, choices, limits). An option two parts share (``init_scale``) must be the
same field. ``check(section, where)``, registered with a part, runs when a config
chooses that part (relations between its options).

A table imports its built-in package the first time it is read, and a package
imports every module of its folder (:func:`import_parts`), so a part in a new
module of ``jsymnet/models/`` or ``jsymnet/data/`` is registered without an edit
anywhere else. A part of your own, outside the package, is registered when its
module is imported: ``import my_parts`` before building, or ``--import my_parts``
on the command line (:func:`import_modules`).
"""
import difflib
import importlib
import pkgutil

from .errors import JsymnetError


class RegistryError(JsymnetError, KeyError, ValueError):
    """An unknown name (the message lists the known ones), a name registered twice, or
    two parts declaring one option differently.

    A ``KeyError`` for code that looks parts up like a dict, and a ``ValueError``
    like every other bad value of a config or an option.
    """

    def __str__(self):  # KeyError would print the message quoted, as a repr
        return str(self.args[0]) if self.args else ""


class Registry:
    """Parts of one kind by name, in the order they were registered, with their options.

    ``section``: the config key of the parts' options (for messages); ``parts``: the
    module whose import registers the built-in parts, imported on first read.
    """

    def __init__(self, kind, section=None, parts=None):
        self.kind = kind
        self.section = section
        self.parts = parts
        self._items = {}
        self._options = {}    # name -> {key: Field}
        self._checks = {}     # name -> check(section, where) or None
        self._loading = parts is None

    def _load(self):
        if not self._loading:
            self._loading = True   # set first: the package's own lookups must not recurse
            try:
                importlib.import_module(self.parts)
            except BaseException:
                self._loading = False
                raise

    def register(self, name, thing=None, options=None, check=None):
        """``@registry.register(name, options=..., check=...)`` decorator, or
        ``register(name, thing, ...)`` directly.

        ``options``: ``{key: Field}``, the part's keys in its config section;
        ``check``: ``check(section, where)``, run on a config that chooses this part.
        A name can be registered once; an option another part declared already must be
        declared alike.
        """
        options = dict(options or {})

        def deco(obj):
            if name in self._items:
                raise RegistryError(f"{self.kind} {name!r} is registered twice")
            for key, field in options.items():
                for other, theirs in self._options.items():
                    if key in theirs and not _same_field(theirs[key], field):
                        raise RegistryError(
                            f"{self.kind} {name!r} declares option {key!r} unlike {other!r} "
                            f"does: parts that share an option must share its Field")
            self._items[name] = obj
            self._options[name] = options
            self._checks[name] = check
            return obj
        return deco if thing is None else deco(thing)

    def get(self, name):
        """The part registered as ``name``; an unknown name is a :class:`RegistryError`
        naming the known ones (and the closest, when one is close)."""
        self._load()
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise RegistryError(self.unknown(name)) from None

    __getitem__ = get

    def unknown(self, name):
        """The message for an unknown ``name``."""
        self._load()
        known = sorted(self._items)
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        outside = (" (a part of your own is registered when its module is imported: "
                   "--import MODULE)") if self.parts else ""
        return (f"unknown {self.kind} {name!r}; known: {', '.join(known) or '(none)'}"
                f"{hint}{outside}")

    def options(self, name=None):
        """``{key: Field}`` of part ``name``, or of every part (registration order)."""
        self._load()
        if name is not None:
            self.get(name)
            return dict(self._options[name])
        out = {}
        for opts in self._options.values():
            out.update(opts)
        return out

    def settings(self, name, section):
        """``{key: value}`` of part ``name``'s options in its config ``section``, each
        missing one at its default (a section written for another part of the table)."""
        return {k: section.get(k, field.default) for k, field in self.options(name).items()}

    def check(self, name, section, where):
        """Run the check part ``name`` registered (if any) on its config ``section``."""
        self._load()
        if self._checks.get(name) is not None:
            self._checks[name](section, where)

    def names(self):
        """The registered names, in registration order."""
        self._load()
        return list(self._items)

    def items(self):
        self._load()
        return list(self._items.items())

    def __contains__(self, name):
        self._load()
        try:
            return name in self._items
        except TypeError:  # an unhashable value (a list from a config) is no name
            return False

    def __iter__(self):
        return iter(self.names())

    def __len__(self):
        return len(self.names())

    def __repr__(self):
        return f"Registry({self.kind!r}: {', '.join(self._items)})"


def _same_field(a, b):
    if a is b:
        return True
    keys = ("default", "types", "choices", "optional", "low", "high", "gt", "lt")
    return all(getattr(a, k, None) == getattr(b, k, None) for k in keys)


def import_parts(package, path):
    """Import every module of a package's folder whose name does not start with ``_``
    (BasicSR's ``archs/__init__.py``), so that each registers its parts. Call it from
    the package's ``__init__``: ``import_parts(__name__, __path__)``."""
    for info in sorted(pkgutil.iter_modules(path), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")


def import_modules(names):
    """Import the modules ``names`` (``--import``): parts of your own register
    themselves. A module that cannot be imported is a :class:`RegistryError` that
    names it."""
    for name in names or ():
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise RegistryError(f"--import {name}: cannot import it ({exc}); give a module "
                                f"on sys.path (the current folder, PYTHONPATH or an "
                                f"installed package)") from None


CODECS = Registry("codec", "model.codec", "jsymnet.models")
SUBNETS = Registry("subnet", "model.subnet", "jsymnet.models")
EXPOSURES = Registry("exposure stage", "model.exposure", "jsymnet.models")
DATASETS = Registry("dataset", "data", "jsymnet.data")
LOSSES = Registry("loss", "train.loss", "jsymnet.losses")
OPTIMIZERS = Registry("optimizer", "train.optim", "jsymnet.engine.optim")



def register_codec(kind, options=None, check=None):
    """Register a codec class: ``cls.from_config(section, load_weights)`` builds it from
    ``model.codec``; it subclasses :class:`jsymnet.models.codec.Codec` (``run_encode`` and
    ``run_decode`` in the active layout, ``out_channels``, ``size_divisor`` and ``halo``,
    the context pixels a tile needs), which gives the public ``encode`` / ``decode``."""
    return CODECS.register(kind, options=options, check=check)


def register_subnet(kind, options=None, check=None):
    """Register a coupling subnet class: ``cls(in_channels, out_channels, section)`` with
    ``section`` the validated ``model.subnet``; it maps N x in x H x W to N x out x H x W
    and starts as the zero function. It subclasses :class:`jsymnet.models.stages.Staged`
    (sets ``in_channels``, gives its computation as ``stages()``), so that the network,
    tiling and the reversible backward run it in their layout (``run``) and callers get
    N x C x H x W (``execute``)."""
    return SUBNETS.register(kind, options=options, check=check)


def lookup(table, kind, what=None):
    """``table.get(kind)``: an unknown name is a :class:`RegistryError` (a ``KeyError``)
    listing the known ones. ``what`` names the kind for a plain dict ``table``."""
    if not isinstance(table, Registry):
        plain, table = table, Registry(what or "name")
        for name, thing in plain.items():
            table.register(name, thing)
    return table.get(kind)

__all__ = ["CODECS", "DATASETS", "EXPOSURES", "LOSSES", "OPTIMIZERS", "Registry", "RegistryError", "SUBNETS",
           "import_modules", "import_parts", "lookup", "register_codec", "register_subnet"]
