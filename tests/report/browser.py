"""Headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
file descriptors 3 and 4, NUL-separated JSON), stdlib only: open a page, evaluate an
expression in it, and collect every console message and log entry the page produced.

DevTools evaluations are not page scripts, so the page's CSP (no script at all) still holds
for everything the page itself carries.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    return next((p for n in NAMES if (p := shutil.which(n))), None)


class BrowserUnavailable(RuntimeError):
    """Chromium is installed but does not start here (no sandbox support, no /dev/shm...)."""


class Browser:
    def __init__(self, exe: str, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self._to_r, self._to_w = os.pipe()  # we write commands; chromium reads fd 3
        self._from_r, self._from_w = os.pipe()  # chromium writes fd 4; we read
        self._profile = tempfile.mkdtemp(prefix="regionlab-chromium-")
        args = [
            exe,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--remote-debugging-pipe",
            f"--user-data-dir={self._profile}",
            "about:blank",
        ]

        def fds() -> None:  # in the child: our pipe ends as its fds 3 and 4, inheritable
            a, b = os.dup(self._to_r), os.dup(self._from_w)  # first out of 3 and 4's way
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            args,
            preexec_fn=fds,
            close_fds=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(self._to_r)
        os.close(self._from_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (OSError, TimeoutError, RuntimeError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        for fd in (self._to_w, self._from_r):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._from_r, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed its DevTools pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method: str, session: str | None = None, **params) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._to_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, session: str) -> None:
        deadline = time.monotonic() + self.timeout
        if any(e.get("method") == method and e.get("sessionId") == session for e in self.events):
            return
        while True:
            e = self._read(deadline)
            self.events.append(e)
            if e.get("method") == method and e.get("sessionId") == session:
                return


def inspect_page(
    path: Path, expression: str, exe: str, screenshot: Path | None = None, width: int = 1280
) -> tuple[object, list[str]]:
    """Load ``path``, wait for it (images included), evaluate ``expression`` (its JSON value)
    and return it with every console message and log entry the page produced; with
    ``screenshot``, also save the whole page as a PNG ``width`` pixels wide."""
    b = Browser(exe)
    try:
        try:
            target = b.send("Target.createTarget", url="about:blank")["targetId"]
        except (OSError, RuntimeError, TimeoutError) as e:
            raise BrowserUnavailable(f"{exe} did not start headless: {e}") from e
        s = b.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            b.send(f"{domain}.enable", s)
        b.send("Page.navigate", s, url=path.resolve().as_uri())
        b.wait_for("Page.loadEventFired", s)
        value = b.send("Runtime.evaluate", s, expression=expression, returnByValue=True)
        if screenshot is not None:
            _capture(b, s, screenshot, width)
        time.sleep(0.3)  # late console or CSP reports
        b.send("Runtime.evaluate", s, expression="1")  # drains the events that came meanwhile
        messages = []
        for e in b.events:
            p = e.get("params", {})
            if e.get("method") == "Runtime.consoleAPICalled":
                messages.append(f"console.{p.get('type')}: {p.get('args')}")
            elif e.get("method") == "Log.entryAdded":
                entry = p.get("entry", {})
                messages.append(f"log {entry.get('level')}: {entry.get('text')}")
            elif e.get("method") == "Runtime.exceptionThrown":
                messages.append(f"exception: {p.get('exceptionDetails')}")
        return value.get("result", {}).get("value"), messages
    finally:
        b.close()


def _capture(b: Browser, session: str, out: Path, width: int) -> None:
    """The whole page, ``width`` CSS pixels wide, as a PNG."""
    import base64

    b.send("Emulation.setDeviceMetricsOverride", session, width=width, height=800,
           deviceScaleFactor=1, mobile=False)  # fmt: skip
    size = b.send("Page.getLayoutMetrics", session)["cssContentSize"]
    shot = b.send("Page.captureScreenshot", session, format="png", captureBeyondViewport=True,
                  clip={"x": 0, "y": 0, "width": width, "height": size["height"], "scale": 1})  # fmt: skip
    out.write_bytes(base64.b64decode(shot["data"]))


# What the browser test checks of any page (every image loads, nothing on the console, no
# markup from data): ``python tests/report/browser.py REPORT.html SHOT.png`` checks a real
# run's or compare's report the same way and saves what the browser shows.
CHECK = """JSON.stringify({
  images: Array.from(document.images).map(i => [i.complete, i.naturalWidth]),
  rows: document.querySelectorAll('#results tbody tr').length,
})"""


def main(argv: list[str]) -> int:
    exe = find_chromium()
    if exe is None or len(argv) != 2:
        print("usage: python tests/report/browser.py REPORT.html SHOT.png (needs chromium)")
        return 2
    value, messages = inspect_page(Path(argv[0]), CHECK, exe, screenshot=Path(argv[1]))
    page = json.loads(value)
    broken = [i for i, (done, w) in enumerate(page["images"]) if not (done and w > 0)]
    print(f"{len(page['images'])} images, {len(broken)} broken; {page['rows']} table rows; "
          f"console: {messages or 'nothing'}; saved {argv[1]}")  # fmt: skip
    return 1 if broken or messages else 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
