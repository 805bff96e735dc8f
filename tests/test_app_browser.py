"""jsymnet-app in a real browser: headless Chromium uploads a photo, moves the strength
slider, presses Enhance and downloads the result, which must equal jsymnet.enhance bit for
bit; no request of the page may leave 127.0.0.1.

Needs Debian's chromium and chromium-driver, Selenium and Gradio (pip install -e
".[app,browser]"); skips with the reason where one is missing. The driving code is
tests/app_browser.py (the README screenshot uses it too).
"""
import os

import cv2
import numpy as np
import pytest
from PIL import Image

import jsymnet

from conftest import IMAGE_H as H, IMAGE_W as W, random_rgb8, tiny_haar_checkpoint

pytest.importorskip("gradio", reason='Gradio is an extra: pip install -e ".[app]"')
import app_browser  # noqa: E402  (tools/, on the path by conftest)

if app_browser.find_browser() is None:
    pytest.skip("no browser: apt-get install chromium chromium-driver; pip install selenium",
                allow_module_level=True)



def test_upload_slide_enhance_download_in_chromium(tmp_path):
    weights = tiny_haar_checkpoint(tmp_path / "tiny.pkl")
    rgb8 = random_rgb8(H, W)
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), rgb8[:, :, ::-1])
    downloads = tmp_path / "downloads"
    downloads.mkdir()

    app = app_browser.App("--weights", str(weights), "--device", "cpu")
    driver = None
    try:
        print(f"first page after {app.seconds_to_page:.1f} s")
        driver = app_browser.open_browser(downloads)
        result, status = app_browser.enhance_in_page(driver, app.url, photo, 0.5, downloads)
        driver.save_screenshot(str(tmp_path / "app.png"))
        urls = app_browser.requests_seen(driver)
    finally:
        if driver is not None:
            driver.quit()
        app.close()
    temp = [line.split(" in ", 1)[1].split(" (")[0] for line in app.output().splitlines()
            if "temporary files in" in line]
    assert temp and not os.path.exists(temp[0]), temp     # removed when the app stopped
    assert "1 done" in status, status
    assert result.name == "photo_enh.png"
    got = np.array(Image.open(result))
    assert np.array_equal(got, jsymnet.enhance(rgb8, weights=weights, strength=0.5))
    assert not np.array_equal(got, jsymnet.enhance(rgb8, weights=weights))  # the slider acted
    assert any(u.startswith(app.url) for u in urls), urls[:5]
    assert app_browser.foreign(urls) == [], app_browser.foreign(urls)
    assert os.path.getsize(tmp_path / "app.png") > 10000      # a page, not a blank
