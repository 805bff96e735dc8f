"""tools/grid_check.py: the figure reads a 4 x 4 lattice and nothing else.

Oracle: images built in NumPy with a known lattice (its RMS computed by hand), a smooth ramp
and white noise, which have none."""
import numpy as np

from conftest import load_tool

tool = load_tool("grid_check")
H = W = 64
RNG = np.random.default_rng(0)


def _lattice(amplitude):
    """A zero-mean period-4 pattern (one value per phase, the same in every 4 x 4 block)."""
    cell = RNG.normal(size=(4, 4, 3)).astype(np.float32)
    cell -= cell.mean(axis=(0, 1))
    cell *= amplitude / np.sqrt(np.mean(cell ** 2))
    return np.tile(cell, (H // 4, W // 4, 1))


def test_a_lattice_on_a_flat_field_reads_as_its_own_rms_after_the_high_pass():
    grey = np.full((H, W, 3), 0.5, np.float32)
    lattice = _lattice(0.01)
    got = tool.grid_rms(grey + lattice, 4, 32)
    # the Gaussian high-pass (sigma 2) keeps most of a period-4 pattern but not all of it:
    # its gain at each of the lattice's frequencies lies in (0.6, 1]
    assert 0.6 * 0.01 < got <= 0.0101
    assert tool.grid_rms(grey, 4, 32) < 1e-6


def test_a_ramp_and_white_noise_have_no_grid():
    ramp = np.broadcast_to(np.linspace(0, 1, W, dtype=np.float32)[None, :, None],
                           (H, W, 3)).copy()
    assert tool.grid_rms(ramp, 4, 32) < 1e-4
    noise = 0.5 + 0.01 * RNG.normal(size=(H, W, 3)).astype(np.float32)
    lattice = tool.grid_rms(0.5 + _lattice(0.01), 4, 32)
    # each phase's mean over 64 blocks shrinks the noise 8-fold; a lattice does not shrink
    assert tool.grid_rms(noise, 4, 32) < 0.25 * lattice
