"""Who is asking, for the per-client limits: an identity that costs an attacker
something to change.

- Only the `X-Forwarded-For` entry Google's front end appends (or the one
  `trusted_proxy_hops` before it, behind proxies of ours) is trusted; everything to
  its left is the client's to forge.
- That entry must be an IP address. Anything else (a proxy misconfigured, or an
  attacker's text reaching that place) is not an identity: the request counts as
  its peer (`remote_addr`), and with no valid peer as one shared "unknown" client.
  Rejecting such a request (400) would also refuse cached reads that cost nothing,
  for every user behind a misbehaving proxy; falling back means junk strings never
  mint fresh buckets, they all share the peer's one.
- An IPv6 client is its network: a /64 (PLOTBURN_IPV6_PREFIX_BITS) is what one
  subscriber gets, so rotating addresses inside it changes nothing. An IPv4-mapped
  IPv6 address (::ffff:a.b.c.d) is that IPv4 address.
- The key stored is an HMAC of that network under PLOTBURN_CLIENT_KEY_SECRET, so
  client addresses are never stored, even as reversible hashes. Unset, each process
  makes a random key of its own (never a guessable one): limits then hold per
  instance, which a WARNING says once.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import threading

import flask
from pydantic import SecretStr

from functions.observability import emit

UNKNOWN_CLIENT = "unknown"

_process_key: bytes | None = None
_process_key_lock = threading.Lock()


def forwarded_address(request: flask.Request, trusted_proxy_hops: int) -> str | None:
    """The trusted X-Forwarded-For entry, or None when there is none."""
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    index = len(hops) - 1 - trusted_proxy_hops
    return hops[index] if 0 <= index < len(hops) else None


def parse_address(raw: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP address, or None for anything else (ports, names, junk)."""
    if not raw or len(raw) > 64:
        return None
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.scope_id is not None:  # fe80::1%eth0: the zone is not the client's
            return ipaddress.IPv6Address(raw.split("%", 1)[0])
    return address


def client_network(request: flask.Request, trusted_proxy_hops: int, ipv6_prefix_bits: int) -> str:
    """What the limits count as one client: an IPv4 address, an IPv6 network."""
    address = parse_address(forwarded_address(request, trusted_proxy_hops))
    if address is None:
        address = parse_address(request.remote_addr)
    if address is None:
        return UNKNOWN_CLIENT
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, ipv6_prefix_bits), strict=False))
    return str(address)


def hmac_key(configured: SecretStr | None) -> bytes:
    """PLOTBURN_CLIENT_KEY_SECRET, else this process's own random key."""
    if configured is not None and configured.get_secret_value().strip():
        return configured.get_secret_value().strip().encode("utf-8")
    global _process_key
    with _process_key_lock:
        if _process_key is None:
            _process_key = secrets.token_bytes(32)
            emit(
                "WARNING",
                "PLOTBURN_CLIENT_KEY_SECRET is not set: client keys use a random key of "
                "this instance, so per-client limits hold per instance, not across them",
            )
        return _process_key


def client_key(
    request: flask.Request,
    trusted_proxy_hops: int,
    ipv6_prefix_bits: int,
    secret: SecretStr | None,
) -> str:
    """The client's rate-limit key: a keyed hash of its address or IPv6 network."""
    network = client_network(request, trusted_proxy_hops, ipv6_prefix_bits)
    return hmac.new(hmac_key(secret), network.encode("ascii"), hashlib.sha256).hexdigest()[:24]
