"""tools/attention_context.py: independent tiles change what the attention sees, and only that.

Oracle: the one inference path on the same pixels (``run_rgb`` of the whole photo, and of
each tile cut by hand)."""
import numpy as np
from PIL import Image

from conftest import load_tool, random_rgb8
from jsymnet.data.image_io import LUMA_709
from jsymnet.inference import load_weights, run_rgb

tool = load_tool("attention_context")
H = W = 32      # two 16 x 16 tiles a side


def test_tiles_are_run_alone_and_a_single_tile_is_the_whole_photo(tiny_weights):
    model = load_weights(str(tiny_weights))[0]
    img = random_rgb8(H, W).astype(np.float32) / 255
    img[:16] *= 0.2                     # a dark top half: its tiles' means differ from the whole's
    whole = run_rgb(model, img)
    assert np.array_equal(tool.tiled_independently(model, img, H), whole)
    tiles = tool.tiled_independently(model, img, 16)
    for i in (0, 16):
        for j in (0, 16):
            alone = run_rgb(model, np.ascontiguousarray(img[i:i + 16, j:j + 16]))
            assert np.array_equal(tiles[i:i + 16, j:j + 16], alone)
    # the attention really sees the tile: the outputs differ beyond rounding
    assert np.abs(tiles - whole).max() > 1e-3


def test_report_prints_each_photos_luminance_and_the_count_in_range(tiny_weights, tmp_path,
                                                                    capsys):
    photo = random_rgb8(H, W + 5)
    Image.fromarray(photo).save(tmp_path / "a.png")                    # cropped to 32 x 32
    Image.fromarray(random_rgb8(8, 8)).save(tmp_path / "b.png")        # smaller than a tile
    assert tool.main([str(tmp_path), "--weights", str(tiny_weights), "--tile", "16"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    row = next(l for l in lines if "a.png" in l).split()
    crop = np.ascontiguousarray(photo[:, :W].astype(np.float32) / 255)
    whole = float((run_rgb(load_weights(str(tiny_weights))[0], crop) @ LUMA_709).mean())
    assert row[1] == "32x32" and abs(float(row[3]) - whole) < 1e-3
    assert any("b.png" in l and "skipped" in l for l in lines)
    n_whole = int(0.3 <= float(row[3]) <= 0.6)
    n_tiles = int(0.3 <= float(row[4]) <= 0.6)
    assert lines[-1] == f"in 0.3-0.6: whole {n_whole} of 1, tiles {n_tiles} of 1"
