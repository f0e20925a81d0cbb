"""Which backend addresses the add-on may reach (no bpy: tested on its own).

A backend on this machine (127.0.0.0/8, ::1, localhost) is not the internet and always works.
Any other host is a network connection and needs Blender's "Allow Online Access".
"""
from __future__ import annotations

import ipaddress
import re

_ADDRESS_RE = re.compile(r"^tcp://(?P<host>\[[0-9a-fA-F:.]+\]|[^:/\[\]]+):(?P<port>\d{1,5})$")


class AddressError(ValueError):
    """The backend address cannot or may not be used; the message says what to do."""


def parse_address(address: str) -> tuple[str, int]:
    """('host', port) of a `tcp://host:port` address."""
    match = _ADDRESS_RE.match(address.strip())
    if not match or not 0 < int(match["port"]) < 65536:
        raise AddressError(f"backend address '{address}' is not of the form tcp://HOST:PORT "
                           "(for example tcp://127.0.0.1:5555): fix it in the add-on preferences")
    return match["host"].strip("[]"), int(match["port"])


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_address(address: str, online_access: bool) -> str:
    """The normalised address, or AddressError when it is malformed or remote without online access."""
    host, port = parse_address(address)
    if not is_loopback(host) and not online_access:
        raise AddressError(
            f"the backend {host}:{port} is on another machine and Blender's online access is off: "
            "enable Preferences > System > Network > Allow Online Access, or run the backend on this "
            "machine (tcp://127.0.0.1:PORT)")
    return address.strip()
