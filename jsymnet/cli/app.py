"""``jsymnet-app``: a local web page that enhances photos (Gradio), offline and private.

Drop photos in (everything ``tools/enhance.py`` reads: JPEG, PNG 8/16-bit, TIFF, WebP,
gray, RGBA ...), compare before and after with a slider or side by side, set the
strength (:mod:`jsymnet.strength`) and the direction, pick a model, download the
full-resolution results. Each result is written by the batch command's own
:func:`jsymnet.cli.batch.enhance_file`, so its pixels, format and metadata are what
``tools/enhance.py`` writes with the same settings.

The page is served on 127.0.0.1 only (``--host`` to change), with Gradio's analytics
off, its bundled fonts and no script or font from another host. Uploads and results
live in one temporary folder, made at start and removed at exit (results older than
an hour are removed while it runs). Uploads are bounded (``--max-upload-mb``,
``--max-image-megapixels``, :data:`MAX_FILES` per request); a file that cannot be
enhanced is a message on the page, and the next request is served as usual.

A named endpoint, ``/enhance`` (image file, strength, direction) -> result file,
serves ``gradio_client`` scripts::

    from gradio_client import Client, handle_file
    out = Client("http://127.0.0.1:7860/").predict(handle_file("photo.jpg"), 0.8,
                                                   "enhance", api_name="/enhance")

Gradio is an extra: ``pip install -e ".[app]"``.
"""
import argparse
import atexit
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from ..errors import JsymnetError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
DEFAULT_MAX_UPLOAD_MB = 200       # per file, checked by Gradio before the upload is stored
DEFAULT_MAX_IMAGE_MEGAPIXELS = 100  # checked from the header, before decoding
MAX_FILES = 16                    # photos per request
PREVIEW_SIDE = 1600               # the page shows results at most this wide; downloads are full
CLEAN_EVERY_S, CLEAN_AGE_S = 600, 3600   # Gradio's cache sweep: results older than an hour
DEFAULT_MODEL = "default (weights/jsymnet_default.pkl)"
CONCURRENCY_ID = "jsymnet"        # one network run at a time, page and API together


class AppError(JsymnetError, RuntimeError):
    """The app cannot start (Gradio missing, the port taken, a bad option)."""


def _import_gradio(temp_root):
    """Gradio, with its cache in ``temp_root`` and its analytics off (set before import)."""
    os.environ["GRADIO_TEMP_DIR"] = str(Path(temp_root) / "gradio")
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gradio as gr
    except ImportError:
        raise AppError('the app needs Gradio: pip install -e ".[app]" (or pip install '
                       '"jsymnet[app]")') from None
    return gr


def find_models(folder):
    """Checkpoint files (``*.pkl``) under ``folder``, relative to it, sorted."""
    if folder is None:
        return []
    folder = Path(folder)
    if not folder.is_dir():
        raise AppError(f"--models {folder}: no such folder")
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.pkl") if p.is_file())


def resolve_model(choice, path, models_dir):
    """The weights argument of :func:`jsymnet.inference.get_model` for the page's choice:
    a typed path wins, then a model of ``--models``, else the default (None)."""
    if path and str(path).strip():
        return str(Path(str(path).strip()).expanduser())
    if choice and choice != DEFAULT_MODEL and models_dir is not None:
        return str(Path(models_dir) / choice)
    return None


def _preview(path):
    """A file as an 8-bit RGB array at most :data:`PREVIEW_SIDE` wide, for the page."""
    from ..data.image_io import read_image, resize_max_side, to_uint8
    return to_uint8(resize_max_side(read_image(path), PREVIEW_SIDE))


class Enhancer:
    """What the page and the API run: photos in, result files out (one temp folder)."""

    def __init__(self, out_root, models_dir=None, default_weights=None):
        self.out_root = Path(out_root)
        self.models_dir = models_dir
        self.default_weights = default_weights

    def model(self, weights):
        from .. import inference
        return inference.get_model(weights if weights is not None else self.default_weights)

    def one(self, src, strength=1.0, direction="enhance", weights=None, tile=None,
            progress=None):
        """Enhance one file; returns (result path, notes). Raises on failure (a bad
        strength or direction too: the inference path checks them)."""
        from .. import inference
        from ..tiling import TileOptions
        from . import batch
        model = self.model(weights)
        name = Path(src).name
        dst = batch.output_path(self.out_root / uuid.uuid4().hex, name,
                                "_enh" if direction == "enhance" else "_low")
        software = inference.software_tag(weights if weights is not None
                                          else self.default_weights, direction)
        notes = batch.enhance_file(src, dst, model, direction, tiling=TileOptions(tile),
                                   progress=progress, software=software, strength=strength)
        return dst, notes

    def many(self, files, strength, direction, weights, tile, progress=None):
        """Every file; returns (done: [(src name, src, dst, notes)], failed: [(name, why)])."""
        done, failed = [], []
        for k, src in enumerate(files):
            name = Path(src).name
            tick = None
            if progress is not None:
                progress((k, len(files)), desc=f"{name}")
                tick = (lambda i, n, name=name: progress((i, n), desc=f"{name}: tiled stage"))
            try:
                dst, notes = self.one(src, strength, direction, weights, tile, tick)
                done.append((name, src, dst, notes))
            except Exception as exc:  # one bad file is a message; the others go on
                failed.append((name, _message(exc)))
        return done, failed


def _message(exc):
    """One line for the page: an expected error's own words, else its type and text."""
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, (JsymnetError, OSError)):
        return text
    return f"{type(exc).__name__}: {text}"


def _summary(done, failed, seconds):
    lines = [f"**{len(done)} done** in {seconds:.1f} s"
             + (f", **{len(failed)} failed**" if failed else "")]
    lines += [f"- {name}: {why}" for name, why in failed]
    lines += [f"- {name}: note: {note}" for name, _, _, notes in done for note in notes]
    return "\n".join(lines)


def _handlers(enhancer, gr):
    """The page's two callbacks around ``enhancer``: ``run`` (the Enhance button: photos,
    settings and model in; the slider, side-by-side gallery, result files and status out)
    and ``api_enhance`` (the ``/enhance`` endpoint: one file in, its result file out).
    A request that cannot run is a ``gr.Error``, which Gradio shows as a message."""
    from ..tiling import DEFAULT_TILE

    def run(files, strength, direction, choice, path, tile_all, tile_size,
            progress=gr.Progress()):
        files = [f if isinstance(f, str) else getattr(f, "name", str(f)) for f in (files or [])]
        if not files:
            raise gr.Error("Drop one or more photos first.")
        if len(files) > MAX_FILES:
            raise gr.Error(f"{len(files)} files: at most {MAX_FILES} per request.")
        tile = None
        if tile_all:
            tile = int(tile_size or DEFAULT_TILE)
            if tile < 8:
                raise gr.Error("The tile size must be at least 8 pixels.")
        weights = resolve_model(choice, path, enhancer.models_dir)
        t0 = time.time()
        done, failed = enhancer.many(files, strength, direction, weights, tile, progress)
        text = _summary(done, failed, time.time() - t0)
        if not done:
            raise gr.Error(text.replace("**", ""))
        import numpy as np
        pairs = [(_preview(src), _preview(dst)) for _, src, dst, _ in done]
        side = [(np.concatenate([a, b], axis=1), name)
                for (a, b), (name, _, _, _) in zip(pairs, done)
                if a.shape == b.shape]
        return pairs[0], side, [str(dst) for _, _, dst, _ in done], text

    def api_enhance(image, strength, direction):
        if not image:
            raise gr.Error("no image file")
        try:
            dst, _ = enhancer.one(image, strength, direction)
        except Exception as exc:
            raise gr.Error(_message(exc)) from None
        return str(dst)

    return run, api_enhance


def build_app(enhancer, gr):
    """The page (a ``gr.Blocks``) around ``enhancer``: the controls and outputs, wired to
    the callbacks of :func:`_handlers`."""
    from ..inference import DIRECTIONS
    from ..tiling import DEFAULT_TILE
    from ..strength import MAX_STRENGTH
    choices = [DEFAULT_MODEL] + find_models(enhancer.models_dir)
    run, api_enhance = _handlers(enhancer, gr)

    with gr.Blocks(title="jsymnet", analytics_enabled=False,
                   delete_cache=(CLEAN_EVERY_S, CLEAN_AGE_S)) as page:
        gr.Markdown("## jsymnet: underexposed photo enhancement\n"
                    "Deep Symmetric Network (ICCV 2021), in Jittor. Everything runs on this "
                    "machine; nothing leaves it.")
        with gr.Row():
            with gr.Column(scale=1):
                files = gr.File(label="Photos (drop them here)", file_count="multiple",
                                elem_id="photos")
                strength = gr.Slider(0.0, MAX_STRENGTH, value=1.0, step=0.05,
                                     label="Strength",
                                     info="0: the photo unchanged; 1: the model's output",
                                     elem_id="strength")
                direction = gr.Radio(list(DIRECTIONS), value="enhance", label="Direction",
                                     info="degrade runs the network backwards")
                choice = gr.Dropdown(choices, value=DEFAULT_MODEL, label="Model")
                path = gr.Textbox(label="or a checkpoint path", placeholder="runs/x/best.pkl")
                with gr.Row():
                    tile_all = gr.Checkbox(False, label="Tile every photo (exact)",
                                           info="large photos are tiled anyway")
                    tile_size = gr.Number(DEFAULT_TILE, label="Tile size (pixels)",
                                          precision=0, minimum=8)
                button = gr.Button("Enhance", variant="primary", elem_id="run")
            with gr.Column(scale=2):
                slider = gr.ImageSlider(label="Before / after (first photo)", type="numpy",
                                        elem_id="slider")
                status = gr.Markdown(elem_id="status")
                results = gr.File(label="Full-resolution results", file_count="multiple",
                                  interactive=False, elem_id="results")
                side = gr.Gallery(label="Side by side", columns=1, elem_id="side")
        button.click(run, [files, strength, direction, choice, path, tile_all, tile_size],
                     [slider, side, results, status], api_visibility="private",
                     concurrency_id=CONCURRENCY_ID, concurrency_limit=1)
        api_in = gr.File(visible=False)
        api_strength = gr.Number(1.0, visible=False)
        api_direction = gr.Textbox("enhance", visible=False)
        api_out = gr.File(visible=False)
        api_button = gr.Button(visible=False)
        api_button.click(api_enhance, [api_in, api_strength, api_direction], api_out,
                         api_name="enhance", concurrency_id=CONCURRENCY_ID,
                         concurrency_limit=1)
    return page


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default=DEFAULT_HOST,
                   help="address to serve on (default: %(default)s, this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default: %(default)s)")
    p.add_argument("--models", metavar="DIR",
                   help="offer every checkpoint (*.pkl) under DIR in the model list")
    p.add_argument("--weights", help="the model chosen by default (default: the shipped one)")
    p.add_argument("--device", default="auto", choices=("cpu", "cuda", "auto"),
                   help="where to run (default: auto = CUDA if available)")
    p.add_argument("--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_MB,
                   help="largest upload accepted, MB per file (default: %(default)s)")
    p.add_argument("--max-image-megapixels", type=float, default=DEFAULT_MAX_IMAGE_MEGAPIXELS,
                   help="largest photo accepted, from its header (default: %(default)s)")
    args = p.parse_args(argv)
    if not 0 < args.port < 65536:
        p.error("--port must be between 1 and 65535")
    if args.max_upload_mb <= 0 or args.max_image_megapixels <= 0:
        p.error("--max-upload-mb and --max-image-megapixels must be > 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    from ..utils.limits import MAX_PIXELS_ENV
    pixels = str(int(args.max_image_megapixels * 1e6))
    os.environ[MAX_PIXELS_ENV] = os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] = pixels
    temp_root = tempfile.mkdtemp(prefix="jsymnet-app-")
    atexit.register(shutil.rmtree, temp_root, True)
    from . import EXPECTED_ERRORS, python_handles_interrupts, report
    try:
        gr = _import_gradio(temp_root)
        import jsymnet
        python_handles_interrupts()        # SIGTERM too: the temporary folder is removed
        jsymnet.use_device(args.device)
        # inside Gradio's cache: served from where they are, swept with it
        enhancer = Enhancer(Path(os.environ["GRADIO_TEMP_DIR"]) / "results", args.models,
                            args.weights)
        enhancer.model(None)               # a missing or broken model fails here, not later
        page = build_app(enhancer, gr)
    except EXPECTED_ERRORS as exc:
        return report(exc)
    print(f"jsymnet-app: temporary files in {temp_root} (removed at exit)", flush=True)
    try:
        page.queue(default_concurrency_limit=1).launch(
            server_name=args.host, server_port=args.port, inbrowser=False, share=False,
            show_error=True, max_file_size=f"{args.max_upload_mb}mb", ssr_mode=False,
            footer_links=["api"], allowed_paths=[], quiet=False)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        return report(AppError(f"cannot serve on {args.host}:{args.port} ({exc}); try "
                               f"--port with another number"))
    finally:
        shutil.rmtree(temp_root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
