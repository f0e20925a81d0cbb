"""Start and stop a backend on this machine (`anix serve`) and keep its log (no bpy)."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from . import network

_process: subprocess.Popen | None = None
_log_path = os.path.join(tempfile.gettempdir(), "anix_local_backend.log")


def cache_dir() -> str:
    """Where a local backend keeps scenes and shot results: the same folder every time, so a
    restarted backend still serves the shots that ended before (for 30 minutes after they end)."""
    base = os.environ.get("LOCALAPPDATA") if os.name == "nt" else os.environ.get("XDG_CACHE_HOME")
    return os.path.join(base or os.path.join(os.path.expanduser("~"), ".cache"), "anix", "local_backend")


def command(python_path: str, address: str) -> list[str]:
    """The command line that serves `address` (must be on this machine)."""
    host, _port = network.parse_address(address)
    if not network.is_loopback(host):
        raise network.AddressError(f"a local backend serves this machine only; the address {address} is "
                                   "another host: set it to tcp://127.0.0.1:PORT")
    if python_path:
        if not os.path.isfile(python_path):
            raise FileNotFoundError(f"the backend Python {python_path} does not exist: pick the python of the "
                                    "environment where AniX Studio is installed")
        return [python_path, "-m", "anix_core", "serve", "--bind", address, "--cache-dir", cache_dir()]
    exe = shutil.which("anix")
    if exe is None:
        raise FileNotFoundError("the `anix` command is not on PATH: set Backend Python in the AniX preferences "
                                "to the python of the environment where AniX Studio is installed")
    return [exe, "serve", "--bind", address, "--cache-dir", cache_dir()]


def start(python_path: str, address: str) -> subprocess.Popen:
    global _process
    if is_running():
        return _process
    cmd = command(python_path, address)
    log = open(_log_path, "wb")
    try:
        _process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    finally:
        log.close()
    return _process


def stop(timeout_s: float = 5.0) -> None:
    global _process
    if _process is None:
        return
    if _process.poll() is None:
        _process.terminate()
        try:
            _process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _process.kill()
            _process.wait()
    _process = None


def is_running() -> bool:
    return _process is not None and _process.poll() is None


def log_path() -> str:
    return _log_path


def log_text(max_chars: int = 200_000) -> str:
    try:
        with open(_log_path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return ""
    return data[-max_chars:].decode("utf-8", "replace")


def status_line() -> str:
    if _process is None:
        return "Not started from Blender"
    code = _process.poll()
    if code is None:
        return f"Running (pid {_process.pid})"
    return f"Stopped (exit code {code}): see the log"
