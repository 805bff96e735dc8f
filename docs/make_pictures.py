#!/usr/bin/env python
"""The pictures of the README and docs/, redrawn from the data and the shipped default model.

  docs/real_lowlight.jpg   real low-light photos, input | output: every lol_low photo,
                           the first three lime_low photos (by name) and the darkest frame
                           of the first three held-out bracket scenes
  docs/strength.jpg        one real photo at strength 0, 0.25, 0.5, 0.75, 1, 1.5
  docs/app.jpg             with --app: the app in headless Chromium, after enhancing a
                           photo (tests/app_browser.py; needs chromium and selenium)

Photos are picked by rule (sorted names), never by hand, so a rerun with another model
shows that model on the same photos. Each JPEG stays under MAX_BYTES.

  python docs/make_pictures.py --data DATA_ROOT --app
"""
import argparse
import os
import sys
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(1, os.path.join(ROOT, "tests"))     # app_browser, the browser test's driver

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROW_HEIGHT = 220
SERIES_HEIGHT = 200
STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)
MAX_BYTES = 300_000
LIME_COUNT = BRACKET_COUNT = 3


def _label(img, text):
    out = img.copy()
    cv2.rectangle(out, (0, 0), (8 + 9 * len(text), 22), (0, 0, 0), -1)
    cv2.putText(out, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                cv2.LINE_AA)
    return out


def _fit(img, height):
    from jsymnet.data.image_io import to_uint8
    h, w = img.shape[:2]
    size = (max(1, round(w * height / h)), height)
    return cv2.resize(to_uint8(img), size, interpolation=cv2.INTER_AREA)


def save_jpeg(path, rgb8):
    """Atomically, at the highest quality that stays under :data:`MAX_BYTES`."""
    from jsymnet.utils.fileio import atomic_path
    for quality in (88, 80, 72, 64, 56):
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb8[..., ::-1]),
                               [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok and len(buf) <= MAX_BYTES:
            break
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buf.tobytes())
    print(f"{path}: {len(buf) / 1000:.0f} KB, {rgb8.shape[1]} x {rgb8.shape[0]}")


def real_photos(data):
    """(label, path) of the photos of docs/real_lowlight.jpg, by the rule of the docstring."""
    from jsymnet.data.datasets import HOLDOUT_SEED
    from jsymnet.data.image_io import is_image_file
    from jsymnet.data import brackets
    data = Path(data)
    lol = sorted(p for p in (data / "lol_low").iterdir() if is_image_file(p))
    lime = sorted(p for p in (data / "lime_low").iterdir() if is_image_file(p))[:LIME_COUNT]
    dark = brackets.darkest_frames(data / "sice_brackets", "test", seed=HOLDOUT_SEED)
    scenes = sorted(dark.items())[:BRACKET_COUNT]
    return ([(f"lol_low/{p.name}", p) for p in lol] + [(f"lime_low/{p.name}", p) for p in lime]
            + [(f"held-out bracket {name}", Path(p)) for name, p in scenes])


def before_after(data, model, out):
    from jsymnet.data.image_io import read_image
    from jsymnet.inference import run_rgb
    rows = []
    for label, path in real_photos(data):
        x = read_image(path)
        y = run_rgb(model, x)
        rows.append(np.concatenate([_label(_fit(x, ROW_HEIGHT), f"input: {label}"),
                                    _label(_fit(y, ROW_HEIGHT), "jsymnet default")], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255)
            for r in rows]
    # two columns of rows keep the sheet short enough for a README
    half = (len(rows) + 1) // 2
    left, right = np.concatenate(rows[:half]), np.concatenate(rows[half:])
    right = np.pad(right, ((0, left.shape[0] - right.shape[0]), (0, 0), (0, 0)),
                   constant_values=255)
    save_jpeg(out, np.concatenate([left, np.full((left.shape[0], 8, 3), 255, np.uint8), right],
                                  axis=1))


def strength_series(photo, model, out):
    from jsymnet.data.image_io import read_image
    from jsymnet.inference import run_rgb
    from jsymnet.strength import apply_strength
    x = read_image(photo)
    y = run_rgb(model, x)
    tiles = [_label(_fit(apply_strength(x, y, s), SERIES_HEIGHT), f"strength {s:g}")
             for s in STRENGTHS]
    save_jpeg(out, np.concatenate(tiles, axis=1))


def app_screenshot(photo, out):
    import tempfile
    import app_browser
    if app_browser.find_browser() is None:
        sys.exit("--app needs chromium, chromium-driver (apt) and selenium (pip)")
    with tempfile.TemporaryDirectory() as tmp:
        app = app_browser.App()
        driver = None
        try:
            driver = app_browser.open_browser(tmp, 1400, 1100)
            app_browser.enhance_in_page(driver, app.url, photo, 1.0, tmp)
            shot = os.path.join(tmp, "app.png")
            driver.save_screenshot(shot)
        finally:
            if driver is not None:
                driver.quit()
            app.close()
        img = cv2.imread(shot)[..., ::-1]
        save_jpeg(out, cv2.resize(img, (img.shape[1] * 3 // 4, img.shape[0] * 3 // 4),
                                  interpolation=cv2.INTER_AREA))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, metavar="DATA_ROOT",
                   help="the data folder (lol_low/, lime_low/, sice_brackets/ inside)")
    p.add_argument("--weights", default=None, help="model (default: the shipped one)")
    p.add_argument("--out", default="docs", help="output folder (default: docs)")
    p.add_argument("--app", action="store_true", help="also the app's screenshot")
    args = p.parse_args(argv)
    import jsymnet  # noqa: F401  (prepares Jittor)
    from jsymnet.inference import get_model
    model = get_model(args.weights)
    os.makedirs(args.out, exist_ok=True)
    before_after(args.data, model, os.path.join(args.out, "real_lowlight.jpg"))
    series_photo = real_photos(args.data)[0][1]
    strength_series(series_photo, model, os.path.join(args.out, "strength.jpg"))
    if args.app:
        app_screenshot(series_photo, os.path.join(args.out, "app.jpg"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
