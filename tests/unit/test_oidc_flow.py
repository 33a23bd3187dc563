"""The pieces of unified sign-in that need no provider: the signed flow cookie, acr ↔ level, level order."""

from __future__ import annotations

import pytest

from onething.accounts.assurance import StepUpRequired, lower, meets, parse_level, require_assurance
from onething.config import Settings
from onething.web import oidc

SECRET = "s" * 48
FLOW = oidc.FlowState(state="st", nonce="no", verifier="v" * 64, next="/me/applications", acr="L3", started=1000)


def test_the_flow_cookie_round_trips_and_refuses_tampering_and_age() -> None:
    value = oidc.encode_flow(FLOW, SECRET)
    assert oidc.decode_flow(value, SECRET, now=1000 + oidc.FLOW_MAX_AGE) == FLOW
    payload, _, mac = value.rpartition(".")
    forged = oidc.encode_flow(oidc.FlowState(**{**FLOW.__dict__, "next": "//evil.example"}), "another-key" * 4)
    for bad in (forged, payload + "." + "0" * len(mac), payload[:-2] + "." + mac, "", None, "x" * 5000):
        with pytest.raises(oidc.OidcError):
            oidc.decode_flow(bad, SECRET, now=1001)
    with pytest.raises(oidc.OidcError, match="expired"):
        oidc.decode_flow(value, SECRET, now=1000 + oidc.FLOW_MAX_AGE + 1)
    with pytest.raises(oidc.OidcError, match="expired"):
        oidc.decode_flow(value, SECRET, now=999)  # from the future


def test_acr_values_and_levels_follow_the_mapping() -> None:
    settings = Settings(oidc_acr_levels={"urn:loa:1": "L1", "urn:loa:2": "L2", "urn:loa:3": "L3", "odd": "L9"})
    assert oidc.acr_values_for(settings, "L2") == ["urn:loa:3", "urn:loa:2"]
    assert oidc.acr_values_for(settings, "L1") == ["urn:loa:3", "urn:loa:2", "urn:loa:1"]
    assert oidc.level_of_acr(settings, "urn:loa:3") == "L3"
    assert oidc.level_of_acr(settings, "odd") == "L1"       # a mapping to no level counts as L1
    assert oidc.level_of_acr(settings, None) == "L1"
    assert oidc.level_of_acr(settings, ["urn:loa:3"]) == "L1"


def test_levels_are_ordered_and_checked() -> None:
    assert meets("L3", "L2") and meets("L2", "L2") and not meets("L1", "L2")
    assert lower("L3", "L1") == "L1" and parse_level("l2") == "L2" and parse_level("L7") == "L1"
    with pytest.raises(StepUpRequired) as raised:
        require_assurance("L2", "L3", "thing x")
    assert (raised.value.required, raised.value.have) == ("L3", "L2")
    require_assurance("L3", "L3")


def test_the_authorization_request_carries_pkce_state_nonce_and_levels() -> None:
    settings = Settings(oidc_issuer="http://op", oidc_client_id="c", oidc_client_secret="x")
    meta = oidc.ProviderMetadata(issuer="http://op", authorization_endpoint="http://op/auth", token_endpoint="t",
                                 jwks_uri="j", userinfo_endpoint=None, end_session_endpoint=None)
    url, flow = oidc.authorization_url(settings, meta, redirect_uri="http://rp/auth/oidc/callback", next_path="/",
                                       acr="L3", force_login=True, now=5)
    from urllib.parse import parse_qs, urlparse

    query = parse_qs(urlparse(url).query)
    assert query["state"] == [flow.state] and query["nonce"] == [flow.nonce] and flow.state != flow.nonce
    assert query["code_challenge_method"] == ["S256"] and flow.verifier not in url
    assert query["acr_values"] == ["L3"] and query["prompt"] == ["login"]
    assert oidc.end_session_url(meta, id_token="a.b.c", post_logout_redirect_uri="http://rp/", client_id="c") is None
