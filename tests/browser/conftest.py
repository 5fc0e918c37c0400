"""A real `kaifang serve` subprocess over the bundled catalog, and a headless system Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import IN_CI

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(bundled_app, tmp_path_factory):
    port = _free_port()
    log = open(tmp_path_factory.mktemp("server") / "serve.log", "w+b")  # noqa: SIM115 - closed below
    # Every browser test signs in and registers from the same address within minutes; the
    # per-address sign-in and mail limits are tested on their own (tests/integration/accounts),
    # here they would only make one test's result depend on how many ran before it.
    env = {**os.environ, "KAIFANG_INSTANCE": bundled_app.instance_path, "KAIFANG_SECRET_KEY": "browser-test",
           "KAIFANG_RATELIMIT_LOGIN_ADDRESS": "1000/minute", "KAIFANG_RATELIMIT_MAIL": "1000/hour"}
    proc = subprocess.Popen([sys.executable, "-m", "portal.cli", "serve", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, proc, log)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def _wait_until_up(base: str, proc: subprocess.Popen, log) -> None:
    # generous: on a loaded shared machine (load 20+ on 2 cores) the server took over 30 s to
    # answer its first request, and every browser test then errored; a wait is not an assertion
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited: {log.read().decode(errors='replace')}")
        try:
            urllib.request.urlopen(base + "/about", timeout=2)  # noqa: S310 - our own loopback server
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not start within 180 s")


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is not installed (Debian packages chromium, chromium-driver)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield ChineseBrowser(instance)
        instance.close()


class ChineseBrowser:
    """The browser, whose pages and contexts are a Chinese browser's (`Accept-Language: zh-CN`)
    unless a test asks for another `locale`: the site follows Accept-Language on a first visit,
    and Chromium's own default here is English (en-US)."""

    def __init__(self, browser) -> None:
        self._browser = browser

    def new_context(self, **options):
        options.setdefault("locale", "zh-CN")
        return self._browser.new_context(**options)

    def new_page(self, **options):
        options.setdefault("locale", "zh-CN")
        return self._browser.new_page(**options)

    def __getattr__(self, name: str):
        return getattr(self._browser, name)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    yield page
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

