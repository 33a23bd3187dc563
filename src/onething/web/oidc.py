"""The OpenID Connect relying party: discovery, the authorization request, the code exchange and ID token
validation — Authlib (PKCE, the OAuth 2 client) and joserfc (Authlib's JOSE library: JWS and JWT claims).

Flow state (``state``, ``nonce``, the PKCE verifier, where to go afterwards and the level asked for) travels in a
short-lived cookie signed with HMAC-SHA256 under a key derived from ONETHING_SECRET_KEY, bound to this browser;
nothing about a pending sign-in is written to the database, and no network call happens inside a transaction.
Provider metadata and keys are cached; an ID token signed with an unknown ``kid`` refreshes the keys once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from onething.accounts.assurance import LEVELS
from onething.config import Settings

FLOW_COOKIE = "onething_oidc"
FLOW_PATH = "/auth/oidc"
FLOW_MAX_AGE = 600          # seconds a sign-in at the provider may take
LEEWAY = 60                 # seconds of clock skew allowed on exp / iat
_METADATA_TTL = 3600.0
ALGORITHMS = ("RS256", "PS256", "ES256")


class OidcError(Exception):
    """The provider's answer cannot be trusted or used; ``message`` is for the person signing in."""

    def __init__(self, reason: str, message: str = "统一身份认证登录未完成，请重新登录。") -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None


@dataclass(frozen=True)
class FlowState:
    state: str
    nonce: str
    verifier: str
    next: str
    acr: str
    started: int  # epoch seconds


_lock = threading.Lock()
_metadata: dict[str, tuple[float, ProviderMetadata]] = {}
_keys: dict[str, KeySet] = {}


def _get_json(url: str, settings: Settings) -> dict[str, Any]:
    try:
        response = httpx.get(url, timeout=settings.oidc_timeout_seconds, follow_redirects=False)
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OidcError(f"fetch {url}: {exc}", "统一身份认证服务暂时无法访问，请稍后再试。") from None
    if not isinstance(data, dict):
        raise OidcError(f"{url}: not a JSON object")
    return data


def discover(settings: Settings) -> ProviderMetadata:
    """The provider's metadata from ``<issuer>/.well-known/openid-configuration`` (cached for an hour)."""
    issuer = settings.oidc_issuer.rstrip("/")
    with _lock:
        cached = _metadata.get(issuer)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    data = _get_json(issuer + "/.well-known/openid-configuration", settings)
    if str(data.get("issuer", "")).rstrip("/") != issuer:
        raise OidcError("discovery: issuer mismatch")
    try:
        meta = ProviderMetadata(issuer=str(data["issuer"]), authorization_endpoint=str(data["authorization_endpoint"]),
                                token_endpoint=str(data["token_endpoint"]), jwks_uri=str(data["jwks_uri"]),
                                userinfo_endpoint=data.get("userinfo_endpoint"),
                                end_session_endpoint=data.get("end_session_endpoint"))
    except KeyError as exc:
        raise OidcError(f"discovery: missing {exc}") from None
    if "S256" not in data.get("code_challenge_methods_supported", ["S256"]):
        raise OidcError("discovery: the provider does not support PKCE S256")
    with _lock:
        _metadata[issuer] = (time.monotonic() + _METADATA_TTL, meta)
    return meta


def provider_keys(meta: ProviderMetadata, settings: Settings, *, refresh: bool = False) -> KeySet:
    with _lock:
        keys = None if refresh else _keys.get(meta.jwks_uri)
    if keys is None:
        keys = KeySet.import_key_set(_get_json(meta.jwks_uri, settings))  # type: ignore[arg-type]
        with _lock:
            _keys[meta.jwks_uri] = keys
    return keys


def forget_provider() -> None:
    """Drop cached metadata and keys (tests start providers on new ports; operators rotate keys)."""
    with _lock:
        _metadata.clear()
        _keys.clear()


# --- the signed flow cookie --------------------------------------------------------------------------------


def _cookie_key(secret: str) -> bytes:
    return hashlib.sha256(b"onething oidc flow\0" + secret.encode()).digest()


def encode_flow(flow: FlowState, secret: str) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(asdict(flow), separators=(",", ":")).encode()).decode()
    mac = hmac.new(_cookie_key(secret), payload.encode(), hashlib.sha256).hexdigest()
    return f"{payload}.{mac}"


def decode_flow(value: str | None, secret: str, now: int) -> FlowState:
    if not value or len(value) > 4000 or "." not in value:
        raise OidcError("no flow cookie", "登录请求已过期或不是从本浏览器发起的，请重新登录。")
    payload, _, mac = value.rpartition(".")
    expected = hmac.new(_cookie_key(secret), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, expected):
        raise OidcError("flow cookie signature", "登录请求已过期或不是从本浏览器发起的，请重新登录。")
    try:
        flow = FlowState(**json.loads(base64.urlsafe_b64decode(payload.encode())))
    except (ValueError, TypeError):
        raise OidcError("flow cookie payload") from None
    if not 0 <= now - flow.started <= FLOW_MAX_AGE:
        raise OidcError("flow expired", "登录请求已过期，请重新登录。")
    return flow


# --- the protocol ------------------------------------------------------------------------------------------


def authorization_url(settings: Settings, meta: ProviderMetadata, *, redirect_uri: str, next_path: str,
                      acr: str | None, force_login: bool, now: int) -> tuple[str, FlowState]:
    """The authorization request (code flow, PKCE S256, state, nonce; ``acr_values`` to ask for a level)."""
    flow = FlowState(state=generate_token(32), nonce=generate_token(32), verifier=generate_token(64),
                     next=next_path, acr=acr or "", started=now)
    params = {"response_type": "code", "client_id": settings.oidc_client_id, "redirect_uri": redirect_uri,
              "scope": settings.oidc_scopes, "state": flow.state, "nonce": flow.nonce,
              "code_challenge": create_s256_code_challenge(flow.verifier), "code_challenge_method": "S256"}
    # Always ask for acr (a provider may add the claim only when asked): the levels that reach ``acr``, or all.
    values = acr_values_for(settings, acr or "L1")
    if values:
        params["acr_values"] = " ".join(values)
    if force_login:
        params["prompt"] = "login"
    separator = "&" if "?" in meta.authorization_endpoint else "?"
    return meta.authorization_endpoint + separator + urlencode(params), flow


def acr_values_for(settings: Settings, level: str) -> list[str]:
    """The provider's acr values that reach ``level``, strongest first."""
    reach = LEVELS.index(level) if level in LEVELS else 0
    found = [(LEVELS.index(mapped), acr) for acr, mapped in settings.oidc_acr_levels.items()
             if mapped in LEVELS and LEVELS.index(mapped) >= reach]
    return [acr for _, acr in sorted(found, reverse=True)]


def level_of_acr(settings: Settings, acr: object) -> str:
    mapped = settings.oidc_acr_levels.get(acr) if isinstance(acr, str) else None
    return mapped if mapped in LEVELS else "L1"


def exchange_code(settings: Settings, meta: ProviderMetadata, *, code: str, redirect_uri: str,
                  verifier: str) -> dict[str, Any]:
    """Redeem the code at the token endpoint (client_secret_basic, with the PKCE verifier)."""
    from authlib.integrations.httpx_client import OAuth2Client

    with OAuth2Client(settings.oidc_client_id, settings.oidc_client_secret, redirect_uri=redirect_uri,
                      token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method name
                      timeout=settings.oidc_timeout_seconds) as client:
        try:
            token = client.fetch_token(meta.token_endpoint, grant_type="authorization_code", code=code,
                                       code_verifier=verifier)
        except Exception as exc:  # Authlib raises OAuthError, httpx its own: the sign-in fails either way
            raise OidcError(f"token endpoint: {exc}") from None
    if not isinstance(token, dict) or not token.get("id_token"):
        raise OidcError("token response without id_token")
    return dict(token)


def validate_id_token(id_token: str, *, keys: KeySet, issuer: str, client_id: str, nonce: str,
                      now: int) -> dict[str, Any]:
    """The ID token's claims once its signature (the provider's JWKS), ``iss``, ``aud`` (and ``azp``), ``exp``,
    ``iat``, ``sub`` and ``nonce`` check out; ``OidcError`` otherwise."""
    try:
        token = jwt.decode(id_token, keys, algorithms=list(ALGORITHMS))
        jwt.JWTClaimsRegistry(
            now=now, leeway=LEEWAY, iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": client_id}, sub={"essential": True},
            exp={"essential": True}, iat={"essential": True}, nonce={"essential": True, "value": nonce},
        ).validate(token.claims)
    except (JoseError, ValueError) as exc:
        raise OidcError(f"id_token: {exc.__class__.__name__}: {exc}") from None
    claims = dict(token.claims)
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or iat > now + LEEWAY:
        raise OidcError("id_token: issued in the future")
    audience = claims.get("aud")
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client_id:
        raise OidcError("id_token: azp is not this client")
    return claims


def verified_claims(settings: Settings, meta: ProviderMetadata, token: dict[str, Any], *, nonce: str,
                    now: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(ID token claims, merged claims): the ID token validated (keys refreshed once on an unknown key), then
    UserInfo read with the access token; UserInfo must be about the same ``sub``."""
    id_token = str(token["id_token"])
    try:
        claims = validate_id_token(id_token, keys=provider_keys(meta, settings), issuer=meta.issuer,
                                   client_id=settings.oidc_client_id, nonce=nonce, now=now)
    except OidcError:
        claims = validate_id_token(id_token, keys=provider_keys(meta, settings, refresh=True), issuer=meta.issuer,
                                   client_id=settings.oidc_client_id, nonce=nonce, now=now)
    merged = dict(claims)
    if meta.userinfo_endpoint and token.get("access_token"):
        try:
            response = httpx.get(meta.userinfo_endpoint, timeout=settings.oidc_timeout_seconds,
                                 headers={"Authorization": f"Bearer {token['access_token']}"})
            response.raise_for_status()
            info = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcError(f"userinfo: {exc}", "统一身份认证服务暂时无法访问，请稍后再试。") from None
        if not isinstance(info, dict) or info.get("sub") != claims["sub"]:
            raise OidcError("userinfo: sub differs from the ID token")
        for key, value in info.items():
            merged.setdefault(key, value)
    return claims, merged


def end_session_url(meta: ProviderMetadata, *, id_token: str, post_logout_redirect_uri: str,
                    client_id: str) -> str | None:
    """RP-initiated logout at the provider (id_token_hint, post_logout_redirect_uri), if it offers one."""
    if not meta.end_session_endpoint:
        return None
    params = {"id_token_hint": id_token, "post_logout_redirect_uri": post_logout_redirect_uri,
              "client_id": client_id, "state": secrets.token_urlsafe(16)}
    separator = "&" if "?" in meta.end_session_endpoint else "?"
    return meta.end_session_endpoint + separator + urlencode(params)
