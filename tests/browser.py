"""Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe): no library needed.

Messages are JSON, each ended by a NUL byte; Chromium reads commands on fd 3 and answers on fd 4.
Used where a test must act on a page (fill a form, press a button), not only load it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import fcntl
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """One headless Chromium and one page in it."""

    def __init__(self, profile: Path):
        to_chrome, self._write = os.pipe()
        self._read, from_chrome = os.pipe()
        # Chromium's fds 3 and 4 must be our pipe ends: dup2 puts them there in the child.
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-pipe",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}"],
            close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,  # (pass_fds would close 3 and 4)
            preexec_fn=lambda: _onto_3_and_4(to_chrome, from_chrome))
        os.close(to_chrome)
        os.close(from_chrome)
        self._id, self._buffer, self.console = 0, b"", []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable", session=True)
        self.call("Runtime.enable", session=True)

    def call(self, method: str, session: bool = False, **params) -> dict:
        """Send one command and return its result (events that arrive meanwhile: console errors are kept)."""
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._next()
            if reply.get("method") == "Runtime.exceptionThrown":
                self.console.append(reply["params"]["exceptionDetails"].get("text", "exception"))
            if reply.get("method") == "Runtime.consoleAPICalled" and reply["params"]["type"] == "error":
                self.console.append(str(reply["params"]["args"]))
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def _next(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._read, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def open(self, url: str, width: int, height: int = 1200) -> None:
        """Load `url` in a window `width` px wide (a phone's when under 600) and wait for its load event."""
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=width < 600)
        self.call("Page.navigate", session=True, url=url)
        self.evaluate("new Promise(done => document.readyState === 'complete' ? done(1) : "
                      "window.addEventListener('load', () => done(1)))")

    def evaluate(self, expression: str):
        """The value of a JavaScript expression (a promise is awaited)."""
        result = self.call("Runtime.evaluate", session=True, expression=expression, awaitPromise=True,
                           returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> None:
        height = self.evaluate("document.documentElement.scrollHeight")
        data = self.call("Page.captureScreenshot", session=True, captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": self.evaluate("window.innerWidth"), "height": height,
                               "scale": 1})["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, OSError):
            pass
        self.process.wait(timeout=30)
        os.close(self._write)
        os.close(self._read)


def _onto_3_and_4(read_end: int, write_end: int) -> None:
    """In the child: the pipe ends as fds 3 and 4, inheritable (copied above 10 first, so neither clobbers the
    other and dup2 never meets itself, which would keep close-on-exec)."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (read_end, write_end)]
    os.dup2(high[0], 3)
    os.dup2(high[1], 4)
