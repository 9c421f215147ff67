"""Drive the Debian chromium package headless through the DevTools protocol over a pipe.

No browser download and no extra package: chromium's `--remote-debugging-pipe` reads
JSON commands on fd 3 and writes replies and events on fd 4, each ended by a NUL.
The self-tests use it to load a report, run JavaScript against the rendered page,
list every network request the page made, and take the README's screenshots.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextlib import suppress
from pathlib import Path
from typing import Any

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",  # we run as root in CI containers
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--remote-debugging-pipe",
)


def find_chromium() -> str | None:
    """The chromium binary, or None when it is not installed (the tests then skip)."""
    env = os.environ.get("GPUCONFORM_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    return next((c for c in CANDIDATES if Path(c).exists()), None) or shutil.which("chromium")


class BrowserError(RuntimeError):
    """The browser answered a command with an error, died, or did not answer in time."""


class Page:
    """One tab: navigate, evaluate, screenshot; `requests` lists every URL it asked for."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session
        self.requests: list[str] = []
        self.console_errors: list[str] = []

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        return self.browser.send(method, params, self.session)

    def open(self, url: str, width: int = 1280, height: int = 900, mobile: bool = False) -> None:
        """Load `url` at a viewport size and wait for its load event."""
        self.send("Page.enable")
        self.send("Network.enable")
        self.send("Runtime.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=2 if mobile else 1,
            mobile=mobile,
        )
        self.send("Page.navigate", url=url)
        self.browser.wait_for("Page.loadEventFired", self.session)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited when it is a promise)."""
        reply = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in reply:
            raise BrowserError(f"{expression!r} threw: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot(self, path: Path, full_page: bool = True, height: int | None = None) -> None:
        """Write a PNG of the page (all of it when full_page, or its top `height` CSS pixels)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page or height:
            size = self.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            tall = min(size[1], height or 16000)
            params["clip"] = {"x": 0, "y": 0, "width": size[0], "height": tall, "scale": 1}
            params["captureBeyondViewport"] = True
        data = self.send("Page.captureScreenshot", **params)["data"]
        path.write_bytes(base64.b64decode(data))

    def record(self, event: dict[str, Any]) -> None:
        method = event.get("method")
        params = event.get("params", {})
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Runtime.exceptionThrown":
            self.console_errors.append(str(params.get("exceptionDetails", {}).get("text")))


class Browser:
    """A headless chromium process and its DevTools pipe."""

    def __init__(self, binary: str, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="gpuconform-chromium-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire() -> None:
            # In the child, before exec: chromium expects the pipe on fds 3 and 4. Copy both
            # above 10 first so that neither dup2 overwrites the other's source.
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome_r, from_chrome_w)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            pass_fds=(3, 4),  # kept open across exec; wire() puts the pipe there
            preexec_fn=wire,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self._pending: list[dict[str, Any]] = []
        self.pages: dict[str, Page] = {}

    def new_page(self) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        self.pages[session] = page
        return page

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        reply = self._read_until(lambda m: m.get("id") == message["id"])
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    def wait_for(self, event: str, session: str) -> dict[str, Any]:
        for index, message in enumerate(self._pending):
            if message.get("method") == event and message.get("sessionId") == session:
                return self._pending.pop(index)
        return self._read_until(lambda m: m.get("method") == event and m.get("sessionId") == session)

    def _read_until(self, wanted: Any) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            for message in self._messages():
                if wanted(message):
                    return message
                if "method" in message:
                    page = self.pages.get(message.get("sessionId", ""))
                    if page is not None:
                        page.record(message)
                    self._pending.append(message)
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"no answer from chromium within {self.timeout} s")
            ready, _, _ = select.select([self._from_chrome], [], [], left)
            if ready:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise BrowserError(f"chromium exited (status {self.process.poll()})")
                self._buffer += chunk

    def _messages(self) -> Iterator[dict[str, Any]]:
        while b"\0" in self._buffer:
            raw, _, self._buffer = self._buffer.partition(b"\0")
            yield json.loads(raw)

    def close(self) -> None:
        try:
            os.write(self._to_chrome, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            for fd in (self._to_chrome, self._from_chrome):
                with suppress(OSError):
                    os.close(fd)
            shutil.rmtree(self.profile, ignore_errors=True)


@contextmanager
def browser(binary: str) -> Iterator[Browser]:
    """A headless chromium for the duration of a with-block."""
    b = Browser(binary)
    try:
        yield b
    finally:
        b.close()
