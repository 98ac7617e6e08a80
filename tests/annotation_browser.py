"""Helpers of the annotation widget's browser test: a JupyterLab server of the test's own and headless Chromium.

JupyterLab (not Voila) because it is where annotators use the widget (the ``notebooks`` extra installs it, and
the notebook in ``notebooks/`` is opened in it), so the test covers the widget manager, layout and kernel
round trips a person meets; Voila would add a dependency and test a different front end.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# JupyterLab settings for the test's server: no news or update checks (nothing outside can be reached anyway).
LAB_SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                                     "checkForUpdates": False}}  # fmt: skip


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_notebook(path: Path, source: str) -> Path:
    """A one-cell notebook (Python 3 kernel) with ``source``."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    notebook = new_notebook(cells=[new_code_cell(source)])
    notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nbformat.write(notebook, path)
    return path


class JupyterLab:
    """A JupyterLab server on 127.0.0.1 with a random free port and a token, serving ``root``, started with
    ``env`` (its kernels inherit it, so they reach the test database); Jupyter's own directories are private
    to it. Use as a context manager: the server and its kernels are shut down on exit."""

    def __init__(self, root: Path, env: dict[str, str], scratch: Path):
        self.root, self.scratch = Path(root), Path(scratch)
        self.port = free_port()
        self.token = os.urandom(16).hex()
        settings = self.scratch / "lab_settings"
        for name, values in LAB_SETTINGS.items():
            (settings / name).parent.mkdir(parents=True, exist_ok=True)
            (settings / name).write_text(json.dumps(values))
        self.env = {
            **env,
            "JUPYTER_CONFIG_DIR": str(self.scratch / "config"),
            "JUPYTER_RUNTIME_DIR": str(self.scratch / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.scratch / "workspaces"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "PYTHONUNBUFFERED": "1",
        }
        self.log_path = self.scratch / "jupyterlab.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def notebook_url(self, name: str) -> str:
        """URL opening notebook ``name`` (relative to the root) in JupyterLab, with a fresh workspace."""
        return f"{self.url}/lab/tree/{name}?reset&token={self.token}"

    def log(self) -> str:
        """The server's output so far (for failure messages)."""
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""

    def _api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read() or b"null")

    def start(self, timeout: float = 60.0) -> Self:
        """Start the server and wait until its API answers; raises RuntimeError with its log otherwise."""
        command = [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}", "--ServerApp.open_browser=False",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--allow-root",  # CI containers run as root
        ]  # fmt: skip
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with code {self.process.returncode}:\n{self.log()}")
            try:
                self._api("/api/status")
                return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.25)
        raise RuntimeError(f"JupyterLab did not answer on {self.url} within {timeout} s:\n{self.log()}")

    def stop(self) -> None:
        """Shut down the kernels and the server (its own process group, if it does not exit by itself)."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            for kernel in self._api("/api/kernels"):
                self._api(f"/api/kernels/{kernel['id']}", method="DELETE")
            self._api("/api/shutdown", method="POST")
            self.process.wait(timeout=15)
        except (OSError, ValueError, subprocess.TimeoutExpired):  # stuck: end its process group (server, kernels)
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
