"""Registries of codecs and coupling subnets, so configs name parts by string."""

CODECS = {}
SUBNETS = {}


def _register(table, kind):
    def deco(cls):
        if kind in table:
            raise KeyError(f"{kind!r} is registered twice")
        table[kind] = cls
        return cls
    return deco


def register_codec(kind):
    return _register(CODECS, kind)


def register_subnet(kind):
    return _register(SUBNETS, kind)


def lookup(table, kind, what):
    if kind not in table:
        raise KeyError(f"unknown {what} {kind!r}; known: {', '.join(sorted(table))}")
    return table[kind]
