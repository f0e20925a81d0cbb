"""CURVE keys (zguide "Ironhouse" pattern through zmq.auth) and the loopback rule.

`anix keys generate DIR` writes:
  DIR/server.key, DIR/server.key_secret     the server's key pair (keep the secret on the GPU box)
  DIR/client.key, DIR/client.key_secret     a client key pair (give both to the animator, with server.key)
  DIR/authorized/client.key                 public keys the server accepts (add more files here)

A server started with `--keys DIR` requires CURVE and accepts only the public keys in
DIR/authorized. A client given `keys=DIR` uses client.key_secret and server.key from DIR (backend.client).
Binding to anything but loopback or ipc without keys is refused.
"""
from __future__ import annotations

import ipaddress
import shutil
from pathlib import Path

import zmq
import zmq.auth

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def generate_keys(directory: str | Path) -> Path:
    directory = Path(directory)
    if (directory / "server.key_secret").exists():
        raise ValueError(f"{directory} already holds keys; choose an empty folder")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "authorized").mkdir(exist_ok=True)
    zmq.auth.create_certificates(str(directory), "server")
    client_public, _ = zmq.auth.create_certificates(str(directory), "client")
    shutil.copy(client_public, directory / "authorized" / "client.key")
    for secret in directory.glob("*.key_secret"):
        secret.chmod(0o600)
    return directory


def is_loopback_address(address: str) -> bool:
    """True for ipc://, inproc:// and tcp:// on 127.0.0.0/8, localhost or ::1."""
    if address.startswith(("ipc://", "inproc://")):
        return True
    if not address.startswith("tcp://"):
        return False
    host = address[len("tcp://"):].rsplit(":", 1)[0]
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # "*", interface names, host names: not loopback


def check_bind_allowed(address: str, keys_dir) -> None:
    if keys_dir is None and not is_loopback_address(address):
        raise ValueError(
            f"refusing to bind {address} without CURVE keys: anyone on the network could use this GPU. "
            "Create keys with `anix keys generate DIR` and start with `--keys DIR`, "
            "or bind to tcp://127.0.0.1:PORT for local use.")


def _require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise ValueError(f"{what} not found: {path} (create keys with `anix keys generate DIR`)")
    return path


def start_server_auth(context: zmq.Context, socket: zmq.Socket, keys_dir: str | Path):
    """Make `socket` a CURVE server accepting only DIR/authorized/*.key; returns the authenticator
    thread (stop it on shutdown)."""
    from zmq.auth.thread import ThreadAuthenticator

    keys_dir = Path(keys_dir)
    public, secret = zmq.auth.load_certificate(str(_require(keys_dir / "server.key_secret", "server secret key")))
    authorized = keys_dir / "authorized"
    if not authorized.is_dir() or not any(authorized.glob("*.key")):
        raise ValueError(f"no authorized client keys in {authorized}")
    auth = ThreadAuthenticator(context)
    auth.start()
    auth.configure_curve(domain="*", location=str(authorized))
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.curve_server = True
    return auth
