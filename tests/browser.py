"""Headless Debian Chromium driven over the DevTools protocol, shared by every browser test.

(No Playwright: its browser download does not work here; Debian's chromium does.)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import websocket

CHROMIUM = "/usr/bin/chromium"


class Page:
    """One browser tab: numbered CDP calls; events kept so a test can wait for them."""

    def __init__(self, url: str) -> None:
        self.socket = websocket.create_connection(url, timeout=60, suppress_origin=True)
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        self.call("Page.enable")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        self.socket.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def loads(self, action: Callable[[], Any], timeout: float = 120) -> None:
        """Run ``action`` (a navigation, a submit) and wait until the next page has loaded."""
        self.events.clear()
        action()
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            if time.monotonic() > deadline:
                raise AssertionError("the page did not load")
            self.socket.settimeout(max(deadline - time.monotonic(), 0.1))
            self.events.append(json.loads(self.socket.recv()))

    def goto(self, url: str) -> None:
        self.loads(lambda: self.call("Page.navigate", url=url))

    def wait_until(self, expression: str, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate(expression):
                return True
            time.sleep(0.2)
        return False

    def set_files(self, selector: str, files: list[Path]) -> None:
        root = self.call("DOM.getDocument")["root"]["nodeId"]
        node = self.call("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        self.call("DOM.setFileInputFiles", nodeId=node, files=[str(f) for f in files])

    def wait_for(self, done: Callable[[list[dict[str, Any]]], bool], timeout: float) -> bool:
        """Read events until ``done(events)`` holds or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while not done(self.events):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.socket.settimeout(remaining)
            try:
                self.events.append(json.loads(self.socket.recv()))
            except websocket.WebSocketTimeoutException:
                return done(self.events)
        return True

    def close(self) -> None:
        self.socket.close()


@contextmanager
def chromium_page(profile: Path) -> Iterator[Page]:
    """Start headless Chromium with its own profile; yield its first tab; stop every process it started."""
    process = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}", "--remote-debugging-port=0",
         "--window-size=1280,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    page = None
    try:
        page = Page(_page_target(profile, process))
        yield page
    finally:
        if page is not None:
            page.close()
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
        shutil.rmtree(profile, ignore_errors=True)


def _page_target(profile: Path, process: subprocess.Popen) -> str:
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text().strip():
        if time.monotonic() > deadline or process.poll() is not None:
            raise AssertionError("chromium did not open its DevTools port")
        time.sleep(0.1)
    port = port_file.read_text().split()[0]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
        targets = json.loads(response.read())
    return next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
