"""Name -> thing tables, so that configs and command lines name parts by string.

One mechanism serves every kind of part (codecs and coupling subnets in
:mod:`jsymnet.models.registry`, datasets in :mod:`jsymnet.data.datasets`)::

    CODECS = Registry("codec")

    @CODECS.register("vgg")
    class VGGCodec: ...

    CODECS.get("vgg")        # VGGCodec
    "vgg" in CODECS          # True
    CODECS.names()           # ['vgg', ...] in registration order

Adding a part is its registration alone: whatever lists the choices (config
validation, ``--help``) reads them from the registry.
"""
import difflib

from .errors import JsymnetError


class RegistryError(JsymnetError, KeyError, ValueError):
    """An unknown name (the message lists the known ones), or a name registered twice.

    A ``KeyError`` for code that looks parts up like a dict, and a ``ValueError``
    like every other bad value of a config or an option.
    """

    def __str__(self):  # KeyError would print the message quoted, as a repr
        return str(self.args[0]) if self.args else ""


class Registry:
    """Things of one kind by name; names keep the order they were registered in."""

    def __init__(self, kind):
        self.kind = kind
        self._items = {}

    def register(self, name, thing=None):
        """``@registry.register(name)`` decorator; or ``register(name, thing)`` directly.

        A name can be registered once: a second registration is an error.
        """
        def deco(obj):
            if name in self._items:
                raise RegistryError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj
        return deco if thing is None else deco(thing)

    def get(self, name):
        """The thing registered as ``name``; an unknown name is a :class:`RegistryError`
        naming the known ones (and the closest, when one is close)."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise RegistryError(self.unknown(name)) from None

    __getitem__ = get

    def unknown(self, name):
        """The message for an unknown ``name``."""
        known = sorted(self._items)
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown {self.kind} {name!r}; known: {', '.join(known) or '(none)'}{hint}"

    def names(self):
        """The registered names, in registration order."""
        return list(self._items)

    def items(self):
        return list(self._items.items())

    def __contains__(self, name):
        try:
            return name in self._items
        except TypeError:  # an unhashable value (a list from a config) is no name
            return False

    def __iter__(self):
        return iter(list(self._items))

    def __len__(self):
        return len(self._items)

    def __repr__(self):
        return f"Registry({self.kind!r}: {', '.join(self._items)})"


__all__ = ["Registry", "RegistryError"]
