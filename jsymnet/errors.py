"""The one base error type: every expected failure of jsymnet is a :class:`JsymnetError`.

Each specific error also derives from the built-in type it refines
(``ValueError``, ``FileNotFoundError``, ``RuntimeError``), so code written
against those keeps working. The command-line tools catch ``JsymnetError``
and print its message as one line with a non-zero exit code; anything else
is a bug and keeps its traceback.
"""


class JsymnetError(Exception):
    """Base of every error jsymnet raises on purpose; the message says what to do."""


SHOW = 5   # names an error message lists before "..." (keys, parameters, files)
