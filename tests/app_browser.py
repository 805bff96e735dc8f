#!/usr/bin/env python
"""Drive ``jsymnet-app`` in a real, headless Chromium: the browser test's and the README
screenshot's one way to use the page.

Needs Debian's ``chromium`` and ``chromium-driver`` (``apt-get install chromium
chromium-driver``; nothing is downloaded) and Selenium (``pip install -e ".[browser]"``).
Every request the page makes is recorded from Chromium's network log, so a caller can
check that none leaves 127.0.0.1.

  python tests/app_browser.py photo.png --strength 0.6 --out results/app
      # starts the app, uploads, enhances, downloads; writes the result and a screenshot
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
DRIVER = ("chromedriver",)
LOCAL_HOSTS = ("127.0.0.1", "localhost")
# the browser's own pages (its new-tab page at start-up), not requests of the app's page
LOCAL_SCHEMES = ("data", "blob", "about", "chrome", "chrome-untrusted", "devtools")


def find_browser():
    """(chromium, chromedriver) paths, or None where either is missing."""
    browser = next((shutil.which(b) for b in CHROMIUM if shutil.which(b)), None)
    driver = next((shutil.which(d) for d in DRIVER if shutil.which(d)), None)
    try:
        import selenium  # noqa: F401  (installed?)
    except ImportError:
        return None
    return (browser, driver) if browser and driver else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class App:
    """``tools/app.py`` in a subprocess on a free port; ``seconds_to_page`` once served."""

    def __init__(self, *args, env=None, timeout=600):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = tempfile.TemporaryFile(mode="w+")
        t0 = time.time()
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tools" / "app.py"), "--port", str(self.port), *args],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=str(ROOT))
        self.seconds_to_page = self._wait(timeout) - t0

    def _wait(self, timeout):
        import urllib.request
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited with {self.proc.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    if r.status == 200:
                        return time.time()
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"the app did not serve {self.url} within {timeout} s:\n"
                           f"{self.output()}")

    def output(self):
        """What the app printed (stdout and stderr)."""
        if self.log.closed:
            return self.text
        self.log.seek(0)
        return self.log.read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.text = self.output()
            self.log.close()


def open_browser(download_dir, width=1400, height=1000):
    """A headless Chromium that records its network requests and downloads to a folder."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    browser, driver = find_browser()
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking", "--disable-sync",
                 "--disable-component-update", "--disable-default-apps",
                 "--disable-extensions", f"--window-size={width},{height}",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='jsymnet-chromium-')}"):
        opts.add_argument(flag)
    opts.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                           "download.prompt_for_download": False})
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=opts)


def requests_seen(driver):
    """Every URL the page requested so far (Chromium's Network.requestWillBeSent)."""
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def foreign(urls):
    """The URLs that leave this machine."""
    out = []
    for url in urls:
        u = urlparse(url)
        if u.scheme in LOCAL_SCHEMES:
            continue
        if u.hostname not in LOCAL_HOSTS:
            out.append(url)
    return out


def _wait_for(fn, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.25)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def set_strength(driver, value):
    """Move the strength slider (its range input) to ``value`` as a user would."""
    from selenium.webdriver.common.by import By
    rng = driver.find_element(By.CSS_SELECTOR, "#strength input[type=range]")
    driver.execute_script(
        "const el = arguments[0];"
        "const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;"
        "set.call(el, arguments[1]);"
        "el.dispatchEvent(new Event('input', {bubbles: true}));"
        "el.dispatchEvent(new Event('change', {bubbles: true}));"
        "el.dispatchEvent(new PointerEvent('pointerup', {bubbles: true}));", rng, str(value))
    number = driver.find_element(By.CSS_SELECTOR, "#strength input[type=number]")
    return float(number.get_attribute("value"))


def enhance_in_page(driver, url, photo, strength, download_dir, timeout=600):
    """Open the page, upload ``photo``, set the strength, press Enhance, download the result.

    Returns (downloaded file path, status text)."""
    from selenium.webdriver.common.by import By
    driver.get(url)
    upload = _wait_for(lambda: driver.find_elements(By.CSS_SELECTOR,
                                                    "#photos input[type=file]"), 60,
                       "the upload field")
    upload[0].send_keys(str(Path(photo).resolve()))
    _wait_for(lambda: driver.find_elements(
        By.CSS_SELECTOR, f'#photos td.filename[aria-label="{Path(photo).name}"]'), 60,
        "the upload to show")
    shown = set_strength(driver, strength)
    if abs(shown - strength) > 1e-6:
        raise RuntimeError(f"the strength slider shows {shown}, not {strength}")
    driver.find_element(By.CSS_SELECTOR, "#run").click()
    links = _wait_for(lambda: [a for a in driver.find_elements(By.CSS_SELECTOR, "#results a")
                               if a.get_attribute("href")], timeout, "the result link")
    before = set(os.listdir(download_dir))
    links[0].click()

    def downloaded():
        # Chromium writes a download to a hidden temporary (".org.chromium.Chromium.*")
        # and to "*.crdownload" before renaming it: wait until only the finished file is new
        new = set(os.listdir(download_dir)) - before
        done = [f for f in new if not f.endswith(".crdownload") and not f.startswith(".")]
        return done[0] if done and len(done) == len(new) else None
    name = _wait_for(downloaded, 60, "the download")
    status = driver.find_element(By.ID, "status").text
    return Path(download_dir) / name, status


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("photo")
    p.add_argument("--strength", type=float, default=1.0)
    p.add_argument("--out", default="results/app", help="folder for the result and screenshot")
    p.add_argument("--screenshot", default=None, help="screenshot path (default: OUT/app.png)")
    args = p.parse_args(argv)
    if find_browser() is None:
        sys.exit("needs chromium, chromium-driver (apt) and selenium (pip)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    app = App()
    driver = None
    try:
        print(f"app served its first page after {app.seconds_to_page:.1f} s")
        driver = open_browser(out)
        t0 = time.time()
        result, status = enhance_in_page(driver, app.url, args.photo, args.strength, out)
        print(f"enhanced in the page and downloaded in {time.time() - t0:.1f} s: {result}")
        print(status)
        shot = args.screenshot or str(out / "app.png")
        driver.save_screenshot(shot)
        print(f"screenshot: {shot}")
        bad = foreign(requests_seen(driver))
        print("requests that left 127.0.0.1:", bad or "none")
    finally:
        if driver is not None:
            driver.quit()
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
