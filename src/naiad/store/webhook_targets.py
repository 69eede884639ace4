"""Where a webhook may send: public addresses only, unless ``NAIAD_WEBHOOK_ALLOW`` names the network.

A server that POSTs to any URL a maintainer gives is a way into the server's own network: its loopback
services, the cloud metadata endpoint (``169.254.169.254``), private databases.  So a webhook's host
must resolve to public (globally routable, non-multicast) addresses, checked when it is added and again
at every delivery, and a delivery connects to the very address that was checked (a name that resolves
to a public address at the check and to a private one a moment later gets nowhere).  Deliveries go
straight to the subscriber: no proxy from the environment is used.

``NAIAD_WEBHOOK_ALLOW``: comma-separated networks (``10.0.0.0/8``), addresses (``127.0.0.1``) or
host names (``hooks.internal``) that may be targeted all the same.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import httpcore

from naiad.config import SETTINGS
from naiad.errors import InvalidValueError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _allowed() -> tuple[list[ipaddress.IPv4Network | ipaddress.IPv6Network], set[str]]:
    networks, names = [], set()
    for item in (x.strip() for x in SETTINGS.webhook_allow.get().split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            names.add(item.lower().rstrip("."))
    return networks, names


def refusal(address: Address) -> str | None:
    """Why a webhook may not connect to ``address`` (None: it may)."""
    networks, _ = _allowed()
    mapped = getattr(address, "ipv4_mapped", None)
    plain: Address = mapped if mapped is not None else address
    if any(plain in n for n in networks if n.version == plain.version):
        return None
    if plain.is_loopback:
        return "a loopback address"
    if plain.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if plain.is_private:
        return "a private address"
    if plain.is_multicast or plain.is_unspecified or plain.is_reserved or not plain.is_global:
        return "not a public address"
    return None


def _hint(host: str, address: Address, why: str) -> str:
    return (f"webhook host {host!r} resolves to {address}, {why}; webhooks may only reach public addresses "
            f"unless the server's NAIAD_WEBHOOK_ALLOW names it (e.g. NAIAD_WEBHOOK_ALLOW={address} or {host}).")


def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` names (a literal address is itself); raises OSError when it names none."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in found))


def check_host(host: str, port: int) -> None:
    """At subscription: refuse a host that names a refused address.  A name that does not resolve
    now is accepted (it is checked again at every delivery)."""
    if host.lower().rstrip(".") in _allowed()[1]:
        return
    try:
        addresses = resolve(host, port)
    except OSError:
        return
    for address in addresses:
        why = refusal(address)
        if why is not None:
            raise InvalidValueError(_hint(host, address, why))


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's network backend, connecting only to an address :func:`refusal` lets through (the
    one resolved here: TLS still checks the certificate against the URL's host name)."""

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        if host.lower().rstrip(".") in _allowed()[1]:
            return super().connect_tcp(host, port, timeout, local_address, socket_options)
        addresses = resolve(host, port)
        refused = [(a, refusal(a)) for a in addresses]
        usable = [a for a, why in refused if why is None]
        if not usable:
            address, why = refused[0]
            raise httpcore.ConnectError(_hint(host, address, str(why)))
        return super().connect_tcp(str(usable[0]), port, timeout, local_address, socket_options)
