"""jsymnet.shifts: the average over shifts of the block grid, against NumPy built by hand.

Oracles: a function with a lattice fixed to its input's origin (what a block codec prints)
loses the lattice's odd part; a shift-equivariant function is unchanged; the mirrored
border is the image's own first rows and columns, by index."""
import numpy as np
import pytest

from jsymnet import shifts

RNG = np.random.default_rng(1)
IMG = RNG.random((9, 12, 3)).astype(np.float32)


def _lattice(h, w):
    """Horizontal stripes of period 2, anchored at the array's first row."""
    return np.where(np.arange(h)[:, None, None] % 2 == 0, 0.01, -0.01) * np.ones((h, w, 3))


def test_a_lattice_fixed_to_the_grid_averages_away_and_the_image_stays():
    fn = (lambda x, i: x + _lattice(*x.shape[:2]))
    one = shifts.average(fn, IMG, 1)
    assert np.allclose(one - IMG, _lattice(9, 12), atol=1e-7)
    two = shifts.average(fn, IMG, 2)       # the second pass's stripes are one row over
    assert np.abs(two - IMG).max() < 1e-6


def test_an_operator_without_a_grid_is_unchanged_and_the_border_is_mirrored():
    def fn(x, i):
        return np.sqrt(x)                  # pointwise: shift-equivariant
    assert np.allclose(shifts.average(fn, IMG, 3), np.sqrt(IMG), atol=1e-6)
    moved = shifts.shift(IMG, 2)
    assert moved.shape == (11, 14, 3)
    assert np.array_equal(moved[2:, 2:], IMG)
    assert np.array_equal(moved[0, 2:], IMG[1]) and np.array_equal(moved[1, 2:], IMG[0])
    tiny = np.ones((1, 1, 3), np.float32)  # smaller than the shift: the edge is repeated
    assert np.array_equal(shifts.shift(tiny, 3), np.ones((4, 4, 3), np.float32))


def test_passes_are_indexed_and_capped_by_the_block_and_bad_counts_say_what_to_do():
    seen = []
    shifts.average(lambda x, i: seen.append((i, x.shape)) or x, IMG, 2)
    assert seen == [(0, (9, 12, 3)), (1, (10, 13, 3))]
    assert shifts.count_for(1, 4) == 1     # a codec without blocks runs once
    assert shifts.count_for(4, 2) == 2 and shifts.count_for(2, 4) == 2
    for bad in (0, 2.0, None, False):
        with pytest.raises(shifts.ShiftError, match="1 or more"):
            shifts.count_for(4, bad)
