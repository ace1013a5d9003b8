"""Shared fixtures: start `vkconform mock --profile vk` as a subprocess.

The binary comes from the environment variable VKCONFORM_BIN, else
<repo>/target/release/vkconform. Every mock listens on 127.0.0.1 on a free
port; every wait is bounded.
"""

import os
import queue
import subprocess
import threading
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
TOKEN = "vkconform-test-token"
START_TIMEOUT = 20


def mock_binary() -> str:
    path = os.environ.get("VKCONFORM_BIN") or str(REPO / "target" / "release" / "vkconform")
    if not Path(path).exists():
        pytest.fail(f"mock binary {path} not found: run `cargo build --release` or set VKCONFORM_BIN")
    return path


class Mock:
    """A running `vkconform mock --port 0 --profile vk [extra...]`."""

    def __init__(self, *extra: str):
        self.proc = subprocess.Popen(
            [mock_binary(), "mock", "--host", "127.0.0.1", "--port", "0", "--profile", "vk", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        lines: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.proc.stdout.readline()), daemon=True).start()
        try:
            first = lines.get(timeout=START_TIMEOUT).strip()
        except queue.Empty:
            self.stop()
            pytest.fail("the mock did not print its address in time")
        prefix = "listening on "
        if not first.startswith(prefix):
            self.stop()
            pytest.fail(f"unexpected first line from the mock: {first!r}")
        self.base = first[len(prefix):]
        self.method_url = self.base + "/method/"

    def push_event(self, **event) -> dict:
        """Pushes a Bots Long Poll event (POST /__vkconform/vk/group-event)."""
        r = requests.post(self.base + "/__vkconform/vk/group-event", json=event, timeout=10)
        r.raise_for_status()
        return r.json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stdout:
            self.proc.stdout.close()


@pytest.fixture
def mock():
    """A fresh plain mock (its own world) per test."""
    m = Mock()
    yield m
    m.stop()


@pytest.fixture
def mock_factory():
    """Starts mocks with extra flags (`--captcha-every 1`, `--rate-limit 2`, ...)."""
    started = []

    def start(*extra: str) -> Mock:
        m = Mock(*extra)
        started.append(m)
        return m

    yield start
    for m in started:
        m.stop()
