"""The neptune client's credentials, issued and checked by naiad.

``NEPTUNE_API_TOKEN`` is base64 of a JSON object: ``api_address`` (the server the client talks to) and
``api_key`` (a naiad API token, ``naiad_<id>_<secret>``: the same account, roles and revocation as
``/api/v1``).  The client exchanges it for an access token and a refresh token, both JWTs; it reads their
``exp``, ``azp`` and ``iss`` claims without checking them, and refreshes at ``{iss}/protocol/openid-
connect/token``.  naiad signs them (HS256) with a key per API token derived from a secret only the store
holds (``server_secrets``), so any server process of a team checks them, no client can make one, and a
revoked or expired API token ends its access tokens with it.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import weakref
from typing import Any

import jwt

from naiad.errors import AuthError
from naiad.store.accounts import Accounts

CLIENT_ID = "neptune-client"
ACCESS_SECONDS = 3600.0
REFRESH_SECONDS = 30 * 86400.0
AUTH_PATH = "/api/neptune/auth"  # the issuer: the client refreshes at AUTH_PATH + REFRESH_PATH
REFRESH_PATH = "/protocol/openid-connect/token"


def neptune_token(api_token: str, url: str) -> str:
    """The ``NEPTUNE_API_TOKEN`` value that sends the neptune client to ``url`` as ``api_token``'s account."""
    url = url.rstrip("/")
    body = json.dumps({"api_address": url, "api_url": url, "api_key": api_token}, separators=(",", ":"))
    return base64.b64encode(body.encode()).decode()


def api_key_of(neptune_api_token: str) -> str:
    """The naiad API token inside a ``NEPTUNE_API_TOKEN`` value."""
    try:
        body = json.loads(base64.b64decode(neptune_api_token.strip(), validate=True))
        key = body["api_key"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise AuthError("NEPTUNE_API_TOKEN is not a token this naiad server issued; make one with "
                        "`naiad token create --user U --neptune URL`.") from None
    if not isinstance(key, str):
        raise AuthError("NEPTUNE_API_TOKEN carries no API key; make one with `naiad token create --neptune URL`.")
    return key


def issue(accounts: Accounts, api_key: str, base_url: str) -> dict[str, Any]:
    """Exchange an API token for an access and a refresh token (AuthError if it does not pass)."""
    account = accounts.verify(api_key)
    token_id = api_key.split("_")[1]
    _, key = accounts.token_key(token_id)
    return {"accessToken": _sign(key, account.name, token_id, "access", ACCESS_SECONDS, base_url),
            "refreshToken": _sign(key, account.name, token_id, "refresh", REFRESH_SECONDS, base_url)}


def refresh(accounts: Accounts, refresh_token: str, base_url: str) -> dict[str, Any]:
    """The OAuth refresh answer for a refresh token naiad issued."""
    claims = check(accounts, refresh_token, "refresh")
    _, key = accounts.token_key(claims["tid"])
    return {"access_token": _sign(key, claims["sub"], claims["tid"], "access", ACCESS_SECONDS, base_url),
            "token_type": "Bearer", "expires_in": int(ACCESS_SECONDS), "refresh_token": refresh_token}


def check(accounts: Accounts, token: str, kind: str = "access") -> dict[str, Any]:
    """The claims of a JWT naiad issued, checked: signature, expiry, kind, and the API token it came from
    (revoked or expired: refused).  The signature of a token is checked once per process (the client
    sends the same access token with every request for an hour); the rest on every call."""
    verified = _verified.setdefault(accounts, {})
    claims = verified.get(token)
    try:
        if claims is None:
            unverified = jwt.decode(token, options={"verify_signature": False})
            owner, key = accounts.token_key(str(unverified["tid"]))
            claims = jwt.decode(token, key, algorithms=["HS256"], audience=None,
                                options={"require": ["exp", "sub", "tid", "typ"]})
            if len(verified) >= _VERIFIED_MAX:
                verified.clear()
            verified[token] = claims
        else:
            if claims["exp"] <= time.time():
                raise jwt.ExpiredSignatureError
            owner = accounts.token_owner(str(claims["tid"]))
        if claims["sub"] != owner:  # signed for another account than the token's own: never ours
            raise jwt.InvalidTokenError("subject is not the token's account")
    except jwt.ExpiredSignatureError:
        raise AuthError("the access token expired; the neptune client refreshes it by itself.") from None
    except (jwt.InvalidTokenError, KeyError):
        raise AuthError("the access token is not one this naiad server issued; check NEPTUNE_API_TOKEN.") from None
    if claims["typ"] != kind:
        raise AuthError(f"a {claims['typ']} token was given where a {kind} token is needed.")
    return claims


_verified: weakref.WeakKeyDictionary[Accounts, dict[str, dict[str, Any]]] = weakref.WeakKeyDictionary()
_VERIFIED_MAX = 4096


def _sign(key: str, account: str, token_id: str, kind: str, seconds: float, base_url: str) -> str:
    now = time.time()
    claims = {"sub": account, "tid": token_id, "typ": kind, "azp": CLIENT_ID, "iat": int(now),
              "exp": int(now + seconds), "iss": base_url.rstrip("/") + AUTH_PATH}
    return jwt.encode(claims, key, algorithm="HS256")
