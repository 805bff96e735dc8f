"""Registries of codecs and coupling subnets, so configs name parts by string.

Both are :class:`jsymnet.registry.Registry` tables: ``CODECS.get("vgg")``,
``"haar" in CODECS``, ``CODECS.names()``.
"""
from ..registry import Registry, RegistryError

CODECS = Registry("codec")
SUBNETS = Registry("subnet")


def register_codec(kind):
    return CODECS.register(kind)


def register_subnet(kind):
    return SUBNETS.register(kind)


def lookup(table, kind, what=None):
    """``table.get(kind)``: an unknown name is a :class:`RegistryError` (a ``KeyError``)
    listing the known ones. ``what`` names the kind for a plain dict ``table``."""
    if not isinstance(table, Registry):
        plain, table = table, Registry(what or "name")
        for name, thing in plain.items():
            table.register(name, thing)
    return table.get(kind)


__all__ = ["CODECS", "SUBNETS", "RegistryError", "lookup", "register_codec", "register_subnet"]
