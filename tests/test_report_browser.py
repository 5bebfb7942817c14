"""The HTML report in a real browser: headless Chromium driven over the DevTools protocol.

Chromium is started with ``--remote-debugging-pipe`` (commands on fd 3, replies and events on
fd 4, NUL-separated JSON), so no port, websocket library or other dependency is needed. The
test opens the report from disk and checks, in the page itself, that every figure decoded
(``naturalWidth > 0``), that the tables are there, that nothing was fetched from the network,
that no console error or exception occurred and that the embedded ``<script>`` text did not
run. A full-page screenshot is saved in the test's tmp folder and copied to
``/tmp/normlab_report_screenshot.png`` for people to look at.

Chromium is the Debian package ``chromium``; when it is missing the test installs it (as root
with apt-get, bounded in time) or skips, saying why.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

try:
    from test_report import fake_runs  # same synthetic study as the HTML tests
except ImportError:  # pytest's importlib mode does not put tests/ on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_report import fake_runs

SCREENSHOT_COPY = Path("/tmp/normlab_report_screenshot.png")
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_TIMEOUT_S = 420
STEP_TIMEOUT_S = 60


def _find_browser() -> str | None:
    for name in BROWSER_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    """Path of a Chromium binary, installing the Debian package when we may; else skip."""
    path = _find_browser()
    if path:
        return path
    apt = shutil.which("apt-get")
    if apt and hasattr(os, "geteuid") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        try:
            subprocess.run([apt, "update"], check=True, capture_output=True, timeout=INSTALL_TIMEOUT_S, env=env)
            subprocess.run([apt, "install", "-y", "--no-install-recommends", "chromium"], check=True,
                           capture_output=True, timeout=INSTALL_TIMEOUT_S, env=env)
        except (subprocess.SubprocessError, OSError) as exc:
            pytest.skip(f"chromium is not installed and `apt-get install chromium` failed: {exc}")
        path = _find_browser()
        if path:
            return path
    pytest.skip("headless Chromium is needed for this test: install the Debian package `chromium` "
                "(apt-get install chromium); it was not found on PATH and could not be installed here")


class CDPError(RuntimeError):
    """The browser answered a command with an error, or did not answer in time."""


class Browser:
    """A headless Chromium process and a minimal DevTools-protocol client over its pipe."""

    def __init__(self, binary: str, workdir: Path):
        self.workdir = workdir
        self.stderr_path = workdir / "chromium-stderr.log"
        self.events: list[dict] = []
        self._next_id = 0
        self._buffer = b""
        cmd_r, cmd_w = os.pipe()  # we write commands to cmd_w; Chromium reads fd 3
        out_r, out_w = os.pipe()  # Chromium writes fd 4; we read out_r
        # Move the child's ends above the target numbers so dup2 onto 3/4 cannot clobber one of them.
        child_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_w = fcntl.fcntl(out_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(cmd_r)
        os.close(out_w)
        args = [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-extensions", "--disable-default-apps", "--mute-audio",
            "--hide-scrollbars", "--disable-dev-shm-usage", f"--user-data-dir={workdir / 'profile'}",
            "--enable-logging=stderr", "--v=0", "--remote-debugging-pipe", "about:blank",
        ]
        stderr_fd = os.open(self.stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            self.pid = os.posix_spawn(
                binary, args, {**os.environ, "HOME": str(workdir)},
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, child_r, 3),
                    (os.POSIX_SPAWN_DUP2, child_w, 4),
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                    (os.POSIX_SPAWN_DUP2, stderr_fd, 2),
                ],
                setsid=True,  # its own process group, so kill() reaches the renderer and GPU helpers too
            )
        finally:
            os.close(child_r)
            os.close(child_w)
            os.close(stderr_fd)
        self._w = cmd_w
        self._r = out_r
        self.session: str | None = None

    # -- transport --------------------------------------------------------------------------

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError("timed out waiting for the browser")
            ready, _, _ = select.select([self._r], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise CDPError(f"the browser closed the pipe; its log:\n{self.log()[-3000:]}")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, *, session: bool = True,
             timeout: float = STEP_TIMEOUT_S) -> dict:
        """Send a command and return its result; events that arrive meanwhile are kept in ``events``."""
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise CDPError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method: str, timeout: float = STEP_TIMEOUT_S) -> dict:
        """Wait for an event (or find it among those already received)."""
        for event in self.events:
            if event["method"] == method:
                return event
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read_message(deadline)
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == method:
                    return msg

    def log(self) -> str:
        """Chromium's stderr so far."""
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- lifecycle --------------------------------------------------------------------------

    def open_page(self) -> None:
        """Create a tab and attach to it (flat session mode)."""
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]

    def close(self) -> None:
        """Ask the browser to quit, then make sure the whole process group is gone."""
        try:
            if self.pid:
                try:
                    self.send("Browser.close", session=False, timeout=5)
                except (CDPError, OSError):
                    pass
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    done, _ = os.waitpid(self.pid, os.WNOHANG)
                    if done:
                        break
                    time.sleep(0.1)
                else:
                    os.killpg(self.pid, signal.SIGKILL)
                    os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        finally:
            try:
                os.killpg(self.pid, signal.SIGKILL)  # helpers that outlived the browser process
            except (ProcessLookupError, PermissionError):
                pass
            for fd in (self._w, self._r):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.pid = 0


PAGE_CHECK = """
(() => {
  const imgs = Array.from(document.images);
  return {
    images: imgs.length,
    decoded: imgs.filter(i => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0).length,
    dataUris: imgs.filter(i => i.src.startsWith('data:image/png;base64,')).length,
    tables: document.querySelectorAll('table').length,
    statsRows: document.querySelectorAll('#statistics table tbody tr').length,
    sections: Array.from(document.querySelectorAll('main > section')).map(s => s.id),
    tocLinks: document.querySelectorAll('nav.toc a[href^="#"]').length,
    scripts: document.querySelectorAll('script').length,
    headline: (document.querySelector('.headline') || {}).innerText || '',
    escapedText: document.body.innerText.includes('<script>alert(1)</script>'),
    pwned: window.__pwned === true,
    width: document.documentElement.scrollWidth,
    height: document.documentElement.scrollHeight,
    title: document.title,
  };
})()
"""


def _render_in_browser(binary: str, html_path: Path, workdir: Path, *, width: int = 1280) -> tuple[dict, bytes, Browser]:
    browser = Browser(binary, workdir)
    try:
        browser.open_page()
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.send(f"{domain}.enable")
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False})
        browser.send("Page.navigate", {"url": html_path.resolve().as_uri()})
        browser.wait_event("Page.loadEventFired")
        result = browser.send("Runtime.evaluate", {"expression": PAGE_CHECK, "returnByValue": True})
        if "exceptionDetails" in result:
            raise CDPError(f"page check failed: {result['exceptionDetails']}")
        page = result["result"]["value"]
        metrics = browser.send("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        height = int(min(size["height"], 30000))
        shot = browser.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        })
        return page, base64.b64decode(shot["data"]), browser
    except BaseException:
        browser.close()
        raise


def _problems(events: list[dict]) -> list[str]:
    """Console errors, uncaught exceptions, error log entries and dialogs seen by the page."""
    out = []
    for e in events:
        m, p = e["method"], e.get("params", {})
        if m == "Runtime.exceptionThrown":
            out.append(f"exception: {p.get('exceptionDetails', {}).get('text')}")
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning"):
            out.append(f"console.{p.get('type')}: {[a.get('value') for a in p.get('args', [])]}")
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
            out.append(f"log {p['entry'].get('source')}: {p['entry'].get('text')}")
        elif m == "Page.javascriptDialogOpening":
            out.append(f"dialog: {p.get('message')}")
    return out


def _requested_urls(events: list[dict]) -> list[str]:
    return [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]


@pytest.fixture(scope="module")
def rendered(chromium, tmp_path_factory):
    """The synthetic study's HTML report, rendered by headless Chromium."""
    from normlab.report import build_report, render_html

    workdir = tmp_path_factory.mktemp("browser")
    report = build_report(fake_runs(evil=True), target=0.98, generated_at=1_700_000_000)
    html_path = workdir / "report.html"
    html_path.write_text(render_html(report), encoding="utf-8")
    page, png, browser = _render_in_browser(chromium, html_path, workdir)
    try:
        events = list(browser.events)
        log = browser.log()
    finally:
        browser.close()
    shot = workdir / "report.png"
    shot.write_bytes(png)
    try:
        shutil.copyfile(shot, SCREENSHOT_COPY)
    except OSError:
        pass  # a convenience copy only
    return {"page": page, "png": shot, "events": events, "log": log, "report": report}


def test_figures_decode_and_tables_render(rendered):
    page, report = rendered["page"], rendered["report"]
    assert page["images"] == len(report.figures) >= 4
    assert page["decoded"] == page["images"], "some embedded PNG did not decode"
    assert page["dataUris"] == page["images"]
    assert page["tables"] == len(report.tables)
    assert page["statsRows"] == 4  # accuracy table and target table, one row per variant each
    assert page["sections"] == [s.anchor for s in report.sections]
    assert page["tocLinks"] == len(report.sections)
    assert "raised final validation accuracy" in page["headline"]
    assert page["title"] == report.title


def test_no_console_errors_no_script_no_network(rendered):
    page, events = rendered["page"], rendered["events"]
    assert _problems(events) == []
    assert page["scripts"] == 0
    assert page["pwned"] is False
    # The malicious message is shown as text, not run as markup.
    assert page["escapedText"] is True
    schemes = {url.split(":", 1)[0] for url in _requested_urls(events)}
    assert schemes <= {"file", "data", "about"}, _requested_urls(events)
    assert "Uncaught" not in rendered["log"]


def test_screenshot_is_a_real_page(rendered):
    from PIL import Image, ImageStat

    with Image.open(rendered["png"]) as img:
        assert img.width == 1280
        assert img.height > 3000  # a long page: curves, tables, appendix
        gray = img.convert("L")
        assert ImageStat.Stat(gray).stddev[0] > 20  # not a blank page
        # The header's headline box is tinted, so the page is not black-and-white only.
        colors = img.convert("RGB").resize((64, 256)).getcolors(64 * 256)
        assert colors is not None and len(colors) > 50


def test_page_fits_a_phone_width(chromium, rendered, tmp_path):
    html_path = tmp_path / "report.html"
    from normlab.report import render_html

    html_path.write_text(render_html(rendered["report"]), encoding="utf-8")
    page, _png, browser = _render_in_browser(chromium, html_path, tmp_path, width=400)
    browser.close()
    # Wide tables scroll inside their own box; the page itself does not overflow sideways.
    assert page["width"] <= 400
    assert page["decoded"] == page["images"]
