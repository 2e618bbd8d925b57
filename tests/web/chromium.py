"""Drive headless Chromium through the DevTools protocol over a pipe (``--remote-debugging-pipe``: commands on
file descriptor 3, replies on 4, JSON messages ended by a NUL byte), so the page runs in real time (no virtual
time budget: its latency figures are real) and a test can wait for a state, evaluate JavaScript and capture a
screenshot, with no WebSocket library."""
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium():
    """The first Chromium executable on PATH, or None."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _above_stdio_and_protocol(fd):
    """A copy of ``fd`` numbered 10 or more (the original is closed), so redirecting it onto 3 or 4 in the child
    cannot overwrite the other pipe end."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Browser:
    """One headless Chromium with one page. Use as a context manager."""

    def __init__(self, executable, width=1000, height=760, timeout=60.0):
        self.timeout = timeout
        self._log = tempfile.TemporaryFile()  # Chromium's stderr, quoted when it dies
        # A profile of its own: with a shared one, a second Chromium hands its URL to the first and exits.
        self._profile = tempfile.mkdtemp(prefix="bmx-chromium-")
        to_child, self._write = os.pipe()
        self._read, from_child = os.pipe()
        to_child, from_child = (_above_stdio_and_protocol(fd) for fd in (to_child, from_child))
        # The protocol's pipes become the child's fds 3 (commands) and 4 (replies) by bash redirection (dash
        # reads one-digit fds only), so no Python code runs between fork and exec (this process has threads,
        # e.g. the test's HTTP server).
        wire = f'exec "$@" 3<&{to_child} 4>&{from_child} {to_child}<&- {from_child}>&-'
        self._proc = subprocess.Popen(
            [shutil.which("bash") or "/bin/bash", "-c", wire, "bash", executable, "--headless", "--no-sandbox",
             "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--remote-debugging-pipe",
             f"--user-data-dir={self._profile}", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=self._log, pass_fds=(to_child, from_child))
        os.close(to_child)
        os.close(from_child)
        self._buffer, self._next_id, self._session = b"", 0, None
        try:
            target = self.send("Target.createTarget", url="about:blank")["targetId"]
            self._session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                      mobile=False)
        except BaseException:
            self.close()
            raise

    def send(self, method, **params):
        """Send one command (to the page once attached) and return its result; raises RuntimeError on an error."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if self._session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self._session
        try:
            os.write(self._write, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            raise RuntimeError(f"Chromium exited: {self._stderr()}") from None
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def _receive(self, deadline):
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._proc.poll() is not None:
                raise TimeoutError(f"Chromium did not answer (exited or timed out): {self._stderr()}")
            if not select.select([self._read], [], [], min(remaining, 1.0))[0]:
                continue
            chunk = os.read(self._read, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _stderr(self):
        self._log.seek(0)
        return self._log.read()[-2000:].decode("utf-8", "replace")

    def evaluate(self, expression):
        """The JSON value of a JavaScript expression in the page (promises are awaited)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url, until, timeout=None):
        """Navigate to ``url`` and poll until the expression ``until`` is truthy in the new document; returns its
        value. (The old document is marked first, so a poll that runs before the navigation commits cannot
        read the old page's state.)"""
        self.evaluate("window.__bmxOldDocument = true")
        self.send("Page.navigate", url=url)
        check = f"!window.__bmxOldDocument && document.body !== null && ({until})"
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            value = self.evaluate(check)
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"{url[:120]}: `{until}` still false after {timeout or self.timeout} s")

    def screenshot(self, path):
        """Save the page's viewport as a PNG file."""
        data = base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])
        with open(path, "wb") as f:
            f.write(data)

    def close(self):
        if self._proc.poll() is None:
            try:
                self.send("Browser.close")
                self._proc.wait(timeout=10)
            except (RuntimeError, TimeoutError, OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
        for fd in (self._read, self._write):
            os.close(fd)
        self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
