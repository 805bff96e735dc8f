"""The model's two part tables, :data:`~jsymnet.registry.CODECS` and
:data:`~jsymnet.registry.SUBNETS` (defined in :mod:`jsymnet.registry` with the others).

``@register_codec(name, options={...})`` and ``@register_subnet(name, options={...},
check=...)`` are their ``register``: see :mod:`jsymnet.registry` for what a part is and
how it declares its options.
"""
from ..registry import CODECS, SUBNETS, Registry, RegistryError


def register_codec(kind, options=None, check=None):
    """Register a codec class: ``cls.from_config(section, load_weights)`` builds it from
    ``model.codec``; it has ``encode``, ``decode``, ``out_channels``, ``size_divisor``
    and ``halo`` (context pixels a tile needs)."""
    return CODECS.register(kind, options=options, check=check)


def register_subnet(kind, options=None, check=None):
    """Register a coupling subnet class: ``cls(in_channels, out_channels, section)`` with
    ``section`` the validated ``model.subnet``; it maps N x in x H x W to N x out x H x W,
    starts as the zero function, and gives its computation as ``stages()``
    (:mod:`jsymnet.models.stages`) so that tiling and the reversible backward can run it."""
    return SUBNETS.register(kind, options=options, check=check)


def lookup(table, kind, what=None):
    """``table.get(kind)``: an unknown name is a :class:`RegistryError` (a ``KeyError``)
    listing the known ones. ``what`` names the kind for a plain dict ``table``."""
    if not isinstance(table, Registry):
        plain, table = table, Registry(what or "name")
        for name, thing in plain.items():
            table.register(name, thing)
    return table.get(kind)


__all__ = ["CODECS", "SUBNETS", "RegistryError", "lookup", "register_codec", "register_subnet"]
