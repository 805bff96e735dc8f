"""jsymnet-app without a browser: what it writes, what it refuses, and its API endpoint.

The page's results are the batch command's files (same pixels as tools/enhance.py and
jsymnet.enhance); bad uploads are messages and the app goes on serving; the named
endpoint answers gradio_client. Skips where Gradio is not installed (pip install -e
".[app]"). tests/test_app_browser.py drives the page itself in Chromium.
"""
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

import jsymnet

gr = pytest.importorskip("gradio", reason='Gradio is an extra: pip install -e ".[app]"')

from jsymnet.cli import app as A  # noqa: E402


@pytest.fixture(scope="module")
def weights(tiny_weights):
    """A small Haar-codec network (the demo model's kind) with random couplings."""
    return tiny_weights


def _png_header_only(path, width, height):
    """A PNG whose header claims width x height and whose data is a few bytes: a bomb."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def hostile_files(folder, rgb8):
    folder.mkdir(parents=True, exist_ok=True)
    corrupt = folder / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 40)
    bomb = folder / "bomb.png"
    _png_header_only(bomb, 60000, 60000)
    anim = folder / "anim.gif"
    frames = [Image.fromarray(rgb8), Image.fromarray(255 - rgb8)]
    frames[0].save(anim, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return {"corrupt": corrupt, "bomb": bomb, "anim": anim}


def test_results_are_the_batch_commands_files_and_bad_uploads_are_messages(
        weights, rgb8, tmp_path):
    src = tmp_path / "in" / "a.png"
    src.parent.mkdir()
    cv2.imwrite(str(src), rgb8[:, :, ::-1])
    app = A.Enhancer(tmp_path / "results", default_weights=str(weights))
    dst, notes = app.one(str(src), strength=0.6)
    assert dst.name == "a_enh.png" and tmp_path / "results" in dst.parents
    assert np.array_equal(np.array(Image.open(dst)),
                          jsymnet.enhance(rgb8, weights=weights, strength=0.6))
    from jsymnet.cli.enhance import main as cli
    assert cli([str(src), "-o", str(tmp_path / "cli"), "--weights", str(weights),
                "--strength", "0.6", "--no-progress"]) == 0
    assert (tmp_path / "cli" / "a_enh.png").read_bytes() == dst.read_bytes()

    bad = hostile_files(tmp_path / "bad", rgb8)
    done, failed = app.many([str(bad["corrupt"]), str(bad["bomb"]), str(src),
                             str(bad["anim"])], 1.0, "enhance", None, None)
    assert [d[0] for d in done] == ["a.png"]
    why = dict(failed)
    assert set(why) == {"corrupt.jpg", "bomb.png", "anim.gif"}
    assert "megapixels" in why["bomb.png"] or "pixels" in why["bomb.png"]
    assert "animation" in why["anim.gif"]
    assert all("Traceback" not in w for w in why.values())
    with pytest.raises(jsymnet.JsymnetError, match="strength"):
        app.one(str(src), strength=5)


def test_model_choice_and_folder_listing(weights, tmp_path):
    models = tmp_path / "models"
    (models / "sub").mkdir(parents=True)
    (models / "sub" / "b.pkl").write_bytes(weights.read_bytes())
    (models / "a.pkl").write_bytes(weights.read_bytes())
    (models / "notes.txt").write_text("not a model")
    assert A.find_models(models) == ["a.pkl", "sub/b.pkl"]
    assert A.resolve_model(A.DEFAULT_MODEL, "", models) is None
    assert A.resolve_model("sub/b.pkl", "", models) == str(models / "sub" / "b.pkl")
    assert A.resolve_model("sub/b.pkl", " /x/y.pkl ", models) == "/x/y.pkl"
    with pytest.raises(A.AppError, match="no such folder"):
        A.find_models(tmp_path / "nope")


def test_the_named_endpoint_serves_gradio_client_and_survives_bad_files(
        weights, rgb8, tmp_path):
    from gradio_client import Client, handle_file
    src = tmp_path / "a.png"
    cv2.imwrite(str(src), rgb8[:, :, ::-1])
    bad = hostile_files(tmp_path / "bad", rgb8)
    page = A.build_app(A.Enhancer(tmp_path / "results", default_weights=str(weights)), gr)
    page.queue(default_concurrency_limit=1)
    from app_browser import free_port
    port = free_port()
    page.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
                show_error=True, quiet=True, ssr_mode=False)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        out = client.predict(handle_file(str(src)), 0.6, "enhance", api_name="/enhance")
        assert np.array_equal(np.array(Image.open(out)),
                              jsymnet.enhance(rgb8, weights=weights, strength=0.6))
        for path in bad.values():
            with pytest.raises(Exception) as info:
                client.predict(handle_file(str(path)), 1.0, "enhance", api_name="/enhance")
            assert "Traceback" not in str(info.value)
        with pytest.raises(Exception, match="strength"):
            client.predict(handle_file(str(src)), 7.0, "enhance", api_name="/enhance")
        out = client.predict(handle_file(str(src)), 1.0, "degrade", api_name="/enhance")
        assert np.array_equal(np.array(Image.open(out)),
                              jsymnet.enhance(rgb8, weights=weights, direction="degrade"))
    finally:
        page.close()
