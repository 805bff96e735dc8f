"""Shift averaging (cycle spinning): the network's output averaged over shifts of its codec's block grid.

A codec that codes b x b blocks (the Haar codec of L levels, b = 2^L: its
``size_divisor``) makes the network shift-variant with period b: an error the
IFT makes in one band over a flat area comes back through the fixed inverse
transform as the same b x b basis block, again and again, a faint lattice on
skies and walls. Cycle spinning (Coifman
and Donoho, "Translation-invariant de-noising", 1995) averages a shift-variant
operator over the shifts of its grid:

    y = (1 / k) * sum_{i = 0}^{k - 1}  S_i^-1( f( S_i(x) ) )

``f`` the network, ``S_i`` the shift by i pixels down and right (the first i
rows and columns mirrored in, :func:`shift`), ``S_i^-1`` its crop. The shifts
run along the diagonal, one pixel a step: of every pair of shifts, (0, 0) and
(1, 1) removed the most lattice (``weights/MODEL_CARD.md``). Every
step is a whole pass of the network, so k passes cost k times one; ``k = 1`` is
the network alone, and a codec without blocks (b = 1, the VGG codec) always
runs once (:func:`count_for`).

It acts on the output alone: for every direction, tiled or not, before
:mod:`jsymnet.strength`; :func:`jsymnet.inference.run_rgb` calls it. Photos
(``jsymnet.enhance``, ``tools/enhance.py``, the app, ``tools/compare.py``) get
:data:`DEFAULT_SHIFTS`; the paper's evaluation (``tools/test.py``,
docs/design.md#evaluation) and a run's validation score the network itself,
:data:`EVAL_SHIFTS`.
"""
import numpy as np

from .errors import JsymnetError

DEFAULT_SHIFTS = 2    # jsymnet.enhance and the tools: twice the time of one pass
EVAL_SHIFTS = 1       # jsymnet.evaluation and a run's validation score the network alone


class ShiftError(JsymnetError, ValueError):
    """A shift count that is not a positive whole number."""


def check_shifts(shifts):
    """``shifts`` as an int >= 1, or a :class:`ShiftError` that says what is allowed."""
    if isinstance(shifts, bool) or not isinstance(shifts, (int, np.integer)) or shifts < 1:
        raise ShiftError(f"shifts must be a whole number of passes, 1 or more (1: the network "
                         f"alone; {DEFAULT_SHIFTS}: the default), got {shifts!r}")
    return int(shifts)


def count_for(block, shifts):
    """Passes to run for a codec of ``block`` x ``block`` blocks: at most one per shift."""
    return min(check_shifts(shifts), max(int(block), 1))


def shift(img, i):
    """H x W x C ``img`` moved ``i`` pixels down and right, the first ``i`` rows and
    columns mirrored in (edge pixel included, so any size works): (H + i) x (W + i)."""
    if i == 0:
        return img
    return np.pad(img, ((i, 0), (i, 0), (0, 0)), mode="symmetric")


def average(fn, img, count):
    """(1 / count) sum_i crop_i(fn(shift(img, i), i)) for i < count (the module's equation).

    ``fn(x, i)`` maps an h x w x C float32 array to one of the same size; ``i`` is the
    pass's index, for progress. Returns float32, ``img``'s size.
    """
    h, w = img.shape[:2]
    total = None
    for i in range(count):
        out = fn(np.ascontiguousarray(shift(img, i)), i)[i:i + h, i:i + w]
        if total is None:
            total = np.array(out, np.float32, copy=True)
        else:
            total += out
        del out
    if count > 1:
        total /= np.float32(count)
    return total
