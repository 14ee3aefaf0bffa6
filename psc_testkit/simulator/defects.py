"""Named defects the simulator can be started with, each breaking exactly one requirement.

A conformance check that cannot fail is a defect of the suite: each check is proven by starting
the simulator with the defect it exists to catch. The behaviour a defect alters tests
`name in state.defects` right where that behaviour is, so reading the code shows both.
"""

from __future__ import annotations

from dataclasses import dataclass

from psc_testkit.claims.schemas import registry, schema_id
from psc_testkit.client.metadata import member_types


@dataclass(frozen=True)
class Defect:
    name: str
    requirement: str
    description: str
    # The conformance checks (function names, or `name[param]`) that must catch the defect:
    # they fail, or warn for a SHOULD. `breaks` lists checks that may also fail or error because
    # they depend on what the defect broke (e.g. no ID token: nothing about it can be checked).
    checks: tuple[str, ...] = ()
    breaks: tuple[str, ...] = ()
    # What the defect takes away that other checks need (a discovery member, an endpoint): any
    # check may *error* with a message that names it (a broken prerequisite), none may fail.
    prerequisite: str = ""


def _d(
    name: str,
    requirement: str,
    description: str,
    *checks: str,
    breaks: tuple[str, ...] = (),
    prerequisite: str = "",
) -> Defect:
    return Defect(name, requirement, description, checks, breaks, prerequisite)


ISSUER_CHECKS = (
    "test_iss_is_the_issuer",
    "test_iss_parameter_is_the_issuer",
    "test_error_response_carries_iss_when_advertised",
    "test_signed_userinfo_names_issuer_and_audience",
)
PSC_SAME_PROFESSIONAL = "test_tokens_userinfo_and_introspection_name_the_same_professional"
SIGNED_USERINFO = (
    "test_signed_userinfo_verifies",
    "test_signed_userinfo_names_issuer_and_audience",
)
HINT_CHECKS = (
    "test_id_token_hint_of_the_current_user_is_silent",
    "test_logout_*",
    "test_no_state_is_echoed_when_none_was_sent",
    "test_invalid_id_token_hint_is_not_honoured",
    "test_unregistered_post_logout_redirect_uri_is_not_followed",
    "test_post_logout_redirect_uri_with_added_query_is_not_followed",
)
# Checks that exchange a code of the primary client (S256 PKCE, its authentication) before
# judging something else: a login for logout, a first exchange, a positive control.
EXCHANGING = (
    "conformance/logout/*",
    "test_code_cannot_be_used_twice",
    "test_wrong_verifier_is_refused",
    "test_missing_verifier_is_refused",
    "test_s256_challenge_is_not_verified_as_plain",
    "test_verifier_without_challenge_is_refused",
)
# Checks that read UserInfo (with GET) to judge what it says.
USERINFO_READERS = (
    "conformance/psc/*",
    "test_userinfo_sub_is_the_id_token_sub",
    *SIGNED_USERINFO,
    "test_invalid_token_is_refused_with_invalid_token",
    "test_refreshed_access_token_works",
    "test_revoking_an_access_token_succeeds_and_it_stops_working",
    "test_revocation_requires_client_authentication",
    "test_bound_access_token_needs_the_certificate",
)

# fmt: off
_ALL = [
    # Discovery (OpenID Connect Discovery 1.0, RFC 8414)
    _d("discovery-status-203", "OIDCD-4.2", "discovery answers 203 instead of 200",
       "test_discovery_responds_200"),
    _d("discovery-not-json", "OIDCD-4.2", "discovery is served as text/plain",
       "test_discovery_is_json"),
    _d("discovery-issuer-mismatch", "OIDCD-4.3",
       "discovery's issuer differs from the URL the document was retrieved from",
       "test_issuer_matches_the_discovery_url", breaks=ISSUER_CHECKS),
    _d("issuer-not-https", "RFC8414-2",
       "the issuer identifier (everywhere) uses http:// while the server is https",
       "test_issuer_is_an_https_url_without_query_or_fragment",
       "test_issuer_matches_the_discovery_url"),
    _d("discovery-http-endpoint", "OIDCD-3",
       "registration_endpoint and pushed_authorization_request_endpoint are advertised as http://",
       "test_every_endpoint_is_an_https_url"),
    _d("discovery-no-code-response-type", "PSC-DISCOVERY",
       "response_types_supported does not list code",
       "test_response_types_include_code"),
    _d("discovery-no-rs256", "OIDCD-3", "id_token_signing_alg_values_supported lacks RS256",
       "test_id_token_signing_algs_include_rs256"),
    _d("discovery-bad-scope-token", "RFC6749-3.3",
       "scopes_supported holds a value with a double quote", "test_scopes_are_valid_scope_tokens"),
    _d("discovery-no-authorization-code-grant", "PSC-DISCOVERY",
       "grant_types_supported omits authorization_code",
       "test_grant_types_are_a_non_empty_list_with_authorization_code"),
    _d("discovery-missing-auth-method", "OIDCD-3",
       "token_endpoint_auth_methods_supported omits private_key_jwt",
       "test_profile_client_auth_methods_are_advertised"),
    _d("ciba-no-delivery-modes", "CIBA-4", "backchannel_token_delivery_modes_supported is missing",
       "test_ciba_advertises_its_delivery_modes"),
    # JWKS (RFC 7517, RFC 7518, OIDC Core §10)
    _d("jwks-not-json", "OIDCD-3", "the JWKS is served as text/plain",
       "test_jwks_is_served_as_json"),
    _d("jwks-garbage-entry", "RFC7517-5", "the keys array holds a string besides the keys",
       "test_jwks_is_a_key_set"),
    _d("jwks-private-material", "OIDCD-3",
       "the JWKS publishes the private RSA parameters of the signing key",
       "test_no_private_key_material_is_published"),
    _d("jwks-symmetric-key", "OIDCD-3", "the JWKS publishes an HMAC (kty oct) key",
       "test_no_symmetric_key_is_published"),
    _d("jwks-key-without-kid", "OIDCC-10.1", "the JWKS holds an extra key without kid",
       "test_every_key_has_a_kid"),
    _d("jwks-duplicate-kid", "RFC7517-4.5", "two different keys share the signing key's kid",
       "test_kids_are_unique"),
    _d("jwks-small-rsa-key", "RFC7518-3.3", "the JWKS holds a 1024-bit RSA key",
       "test_rsa_keys_are_at_least_2048_bits"),
    _d("jwks-padded-base64", "RFC7518-6", "an extra key's members are padded base64",
       "test_key_members_are_unpadded_base64url"),
    _d("jwks-broken-key", "RFC7517-4", "an extra RSA key lacks its exponent",
       "test_keys_are_usable"),
    _d("jwks-encryption-keys-only", "OIDCC-10.1", "every published key has use=enc",
       "test_a_signing_key_is_published",
       breaks=("test_signature_verifies_with_the_jwks", "test_signed_userinfo_verifies")),
    # Authorization endpoint (OIDC Core §3.1.2, RFC 6749 §4.1)
    _d("code-in-fragment", "OIDCC-3.1.2.5",
       "the code flow answers in the fragment, not in the query, when no response_mode was asked",
       "test_successful_authorization_returns_a_code"),
    _d("state-not-echoed", "RFC6749-4.1.2",
       "the successful authorization response omits the state the client sent",
       "test_state_is_echoed"),
    _d("error-state-not-echoed", "OIDCC-3.1.2.6", "error responses omit the state",
       "test_error_response_carries_state_and_no_code"),
    _d("iss-parameter-wrong", "RFC9207-2",
       "the iss authorization response parameter is not the issuer",
       "test_iss_parameter_is_the_issuer", "test_error_response_carries_iss_when_advertised"),
    _d("code-short", "RFC6749-10.10", "authorization codes have 15 random characters",
       "test_code_is_long_enough", "test_code_has_enough_entropy"),
    _d("code-low-entropy", "RFC6749-10.10", "authorization codes are a padded counter",
       "test_code_has_enough_entropy"),
    _d("authorize-post-unsupported", "OIDCC-3.1.2.1",
       "the authorization endpoint refuses POST requests",
       "test_post_authorization_request_succeeds"),
    _d("nonce-required", "OIDCC-3.1.2.1", "requests without nonce are refused",
       "test_request_without_nonce_succeeds",
       breaks=("test_no_nonce_when_none_was_sent",)),
    _d("unknown-parameter-rejected", "RFC6749-3.1",
       "unrecognised authorization parameters are refused", "test_unknown_parameters_are_ignored"),
    _d("scope-order-sensitive", "RFC6749-3.3", "scope must start with openid",
       "test_scope_order_and_parameter_order_do_not_matter"),
    _d("display-popup-rejected", "OIDCC-3.1.2.1", "display=popup is refused",
       "test_optional_parameters_do_not_cause_errors[display-popup]"),
    _d("display-page-rejected", "OIDCC-3.1.2.1", "display=page is refused",
       "test_optional_parameters_do_not_cause_errors[display-page]"),
    _d("ui-locales-rejected", "OIDCC-3.1.2.1", "an unsupported ui_locales value is refused",
       "test_unsupported_ui_locales_cause_no_error"),
    _d("claims-locales-rejected", "OIDCC-5.2", "a claims_locales other than fr is refused",
       "test_unsupported_claims_locales_cause_no_error"),
    _d("login-hint-rejected", "OIDCC-3.1.2.1",
       "login_hint on the authorization endpoint is refused",
       "test_login_hint_does_not_cause_an_error"),
    _d("prompt-none-shows-login", "OIDCC-3.1.2.3",
       "prompt=none without a session shows the login page",
       "test_prompt_none_without_session_requires_login"),
    _d("prompt-none-refused", "OIDCC-3.1.2.1",
       "prompt=none gets login_required even with a session",
       "test_prompt_none_with_session_returns_a_code",
       # they ask with prompt=none whether the session is there (or silent)
       breaks=("test_max_age_not_elapsed_is_silent",
               "test_id_token_hint_of_the_current_user_is_silent",
               "test_invalid_id_token_hint_is_not_honoured",
               "test_logout_without_hint_asks_the_user")),
    _d("prompt-none-with-session-shows-login", "OIDCC-3.1.2.1",
       "prompt=none with a session shows the login page",
       "test_prompt_none_with_session_shows_no_page",
       # they ask with prompt=none whether the session is there (or silent)
       breaks=("test_prompt_none_with_session_returns_a_code",
               "test_max_age_not_elapsed_is_silent",
               "test_id_token_hint_of_the_current_user_is_silent",
               "test_invalid_id_token_hint_is_not_honoured",
               "test_logout_without_hint_asks_the_user")),
    _d("prompt-login-ignored", "OIDCC-3.1.2.3", "prompt=login with a session answers silently",
       "test_prompt_login_reauthenticates", "test_prompt_login_asks_for_authentication_again"),
    _d("max-age-ignored", "OIDCC-3.1.2.1", "max_age is ignored",
       "test_max_age_elapsed_forces_reauthentication"),
    _d("max-age-always-reauthenticates", "OIDCC-3.1.2.1", "any max_age forces a new login",
       "test_max_age_not_elapsed_is_silent"),
    _d("id-token-hint-rejected", "OIDCC-3.1.2.1",
       "an id_token_hint of the logged-in user gets login_required",
       "test_id_token_hint_of_the_current_user_is_silent"),
    _d("response-type-defaults-to-code", "OIDCC-3.1.2.2",
       "a request without response_type is treated as code",
       "test_missing_response_type_is_an_error"),
    _d("response-type-token-answered-with-code", "RFC6749-4.1.2.1",
       "response_type=token is answered with a code", "test_unsupported_response_type_is_refused"),
    _d("unknown-client-redirected", "RFC6749-4.1.2.1",
       "an unknown client_id is redirected with an error", "test_unknown_client_is_not_redirected"),
    _d("redirect-uri-not-checked", "RFC6749-4.1.2.1",
       "the authorization endpoint redirects to any redirect_uri",
       "test_unregistered_redirect_uri_is_not_redirected",
       "test_unregistered_redirect_uri_gets_an_error_page",
       "test_error_for_a_bad_redirect_uri_is_not_redirected"),
    _d("redirect-uri-prefix-match", "RFC6749-4.1.2.1",
       "a redirect_uri that starts with a registered one is accepted",
       "test_unregistered_redirect_uri_is_not_redirected[longer-path]",
       "test_unregistered_redirect_uri_is_not_redirected[added-query]"),
    _d("error-description-non-ascii", "RFC6749-4.1.2.1",
       "authorization error descriptions contain non-ASCII characters",
       "test_error_description_uses_allowed_characters"),
    _d("request-object-ignored", "OIDCC-6.1", "the request parameter is silently ignored",
       "test_request_object_is_honoured_or_refused"),
    _d("request-uri-ignored", "OIDCC-6.2", "the request_uri parameter is silently ignored",
       "test_request_uri_is_honoured_or_refused"),
    _d("form-post-ignored", "OAUTH2-FP-2", "response_mode=form_post answers with a redirect",
       "test_form_post_response_mode"),
    # Token endpoint (RFC 6749 §4.1.3, §5; RFC 7636)
    _d("code-reusable", "RFC6749-4.1.2", "an authorization code can be exchanged twice",
       "test_code_cannot_be_used_twice", "test_code_reuse_revokes_the_first_tokens"),
    _d("code-reuse-keeps-tokens", "RFC6749-4.1.2",
       "a replayed code is refused but the first tokens stay valid",
       "test_code_reuse_revokes_the_first_tokens"),
    _d("token-redirect-uri-mismatch-accepted", "RFC6749-4.1.3",
       "the token endpoint accepts a redirect_uri other than the authorization request's",
       "test_redirect_uri_must_match"),
    _d("token-redirect-uri-optional", "RFC6749-4.1.3",
       "the token endpoint accepts a missing redirect_uri",
       "test_redirect_uri_is_required_when_it_was_sent"),
    _d("code-not-bound-to-client", "RFC6749-4.1.3",
       "a code issued to one client is exchanged by another", "test_code_is_bound_to_its_client"),
    _d("pkce-not-enforced", "RFC7636-4.6", "the token endpoint ignores the code_verifier",
       "test_wrong_verifier_is_refused", "test_missing_verifier_is_refused",
       "test_s256_challenge_is_not_verified_as_plain",
       "test_verifier_without_challenge_is_refused"),
    _d("pkce-verifier-optional", "RFC7636-4.6", "a missing code_verifier is accepted",
       "test_missing_verifier_is_refused"),
    _d("pkce-s256-accepts-challenge", "RFC7636-4.6",
       "an S256 challenge is also accepted as its own verifier",
       "test_s256_challenge_is_not_verified_as_plain"),
    _d("pkce-downgrade-accepted", "RFC9700-2.1.1",
       "a code_verifier is accepted for a code issued without challenge",
       "test_verifier_without_challenge_is_refused"),
    _d("pkce-plain-broken", "RFC7636-4.2", "the plain method is verified like S256",
       "test_plain_method_works_when_advertised"),
    _d("pkce-s256-refused", "RFC7636-4.6", "a correct S256 code_verifier is refused",
       "test_valid_pkce_succeeds", prerequisite="the token request failed",
       breaks=(*EXCHANGING, "test_code_exchange_succeeds_with_each_auth_method")),
    _d("public-client-without-pkce", "RFC9700-2.1.1",
       "a public client's request without PKCE is accepted", "test_public_client_must_use_pkce"),
    _d("client-secret-post-broken", "OIDCC-9", "client_secret_post is refused",
       "test_code_exchange_succeeds_with_each_auth_method[client_secret_post]",
       breaks=("test_code_is_bound_to_its_client", "test_refresh_token_is_bound_to_its_client")),
    _d("private-key-jwt-broken", "OIDCC-9", "every client assertion is refused",
       "test_code_exchange_succeeds_with_each_auth_method[private_key_jwt]",
       breaks=SIGNED_USERINFO),
    _d("client-secret-basic-broken", "OIDCC-9", "client_secret_basic is refused",
       "test_code_exchange_succeeds_with_each_auth_method[client_secret_basic]",
       prerequisite="the token request failed",
       # the primary client authenticates with client_secret_basic everywhere
       breaks=(*EXCHANGING, "conformance/ciba/*", "test_valid_pkce_succeeds",
               "test_redirect_uri_must_match", "test_redirect_uri_is_required_when_it_was_sent",
               "test_error_uses_http_400_and_the_rfc_error_code",
               "test_revoking_an_unknown_token_is_200", "test_plain_method_works_when_advertised",
               "test_unknown_token_is_inactive")),
    _d("tls-client-auth-broken", "OIDCC-9", "every client certificate is refused",
       "test_code_exchange_succeeds_with_each_auth_method[tls_client_auth]",
       prerequisite="the token request failed"),
    _d("public-client-refused", "OIDCC-9", "a public client (auth method none) is refused",
       "test_code_exchange_succeeds_with_each_auth_method[none]",
       prerequisite="the token request failed"),
    _d("token-cache-control-missing", "RFC6749-5.1",
       "token responses lack Cache-Control: no-store", "test_token_response_is_not_cached"),
    _d("token-pragma-missing", "RFC6749-5.1", "token responses lack Pragma: no-cache",
       "test_token_response_has_pragma_no_cache"),
    _d("token-response-not-json", "RFC6749-5.1", "token responses are served as text/plain",
       "test_token_response_is_json"),
    _d("token-type-mac", "OIDCC-3.1.3.3", "token_type is \"mac\"", "test_token_type_is_bearer"),
    _d("expires-in-string", "RFC6749-5.1", "expires_in is the string \"120\"",
       "test_expires_in_is_present_and_sane", "test_token_response_matches_the_schema",
       breaks=("test_access_token_lives_120_seconds",)),
    _d("refresh-token-control-character", "RFC6749-A.17", "refresh tokens contain a tab character",
       "test_refresh_token_uses_allowed_characters"),
    _d("access-token-control-character", "RFC6749-A.12", "access tokens contain a tab character",
       "test_access_token_uses_allowed_characters",
       breaks=(PSC_SAME_PROFESSIONAL, "test_jwt_access_token_is_never_unsigned")),
    _d("token-error-wrong-code", "RFC6749-5.2",
       "an unknown grant_type is answered invalid_request",
       "test_error_uses_http_400_and_the_rfc_error_code[unsupported-grant-type]"),
    _d("token-missing-grant-type-500", "RFC6749-5.2",
       "a token request without grant_type is answered HTTP 500",
       "test_error_uses_http_400_and_the_rfc_error_code[missing-grant-type]"),
    _d("token-unknown-code-invalid-request", "RFC6749-5.2",
       "an unknown or expired code is answered invalid_request, not invalid_grant",
       "test_error_uses_http_400_and_the_rfc_error_code[unknown-code]"),
    _d("token-error-bad-charset", "RFC6749-5.2", "token error descriptions contain double quotes",
       "test_error_is_json_with_an_ascii_error_code[*]"),
    _d("wrong-secret-not-invalid-client", "RFC6749-5.2",
       "a wrong client secret is answered unauthorized_client",
       "test_wrong_client_secret_is_invalid_client"),
    _d("token-endpoint-flaky", "PSC-AVAILABILITY",
       "about 1 % of token requests fail with 503 (for availability SLOs)"),
    # ID token (OIDC Core §2, §3.1.3.7)
    _d("id-token-missing", "OIDCC-3.1.3.3", "the token response has no id_token",
       "test_id_token_is_returned",
       breaks=("conformance/core/test_s3_1_3_7_*", "test_userinfo_sub_is_the_id_token_sub",
               "test_id_token_is_never_unsigned",
               "test_id_token_hint_of_the_current_user_is_silent", "conformance/logout/*",
               "test_acr_is_at_least_eidas1", PSC_SAME_PROFESSIONAL,
               "test_approved_request_returns_tokens")),
    _d("id-token-bad-signature", "OIDCC-3.1.3.7-6",
       "the ID token's signature does not verify with the JWKS",
       "test_signature_verifies_with_the_jwks", breaks=HINT_CHECKS),
    _d("id-token-alg-none", "RFC9700-2.6", "ID tokens are unsigned (alg none)",
       "test_id_token_is_never_unsigned", "test_alg_is_rs256_by_default",
       "test_signature_verifies_with_the_jwks", "test_header_has_a_kid_even_with_a_single_key",
       breaks=HINT_CHECKS),
    _d("id-token-no-kid", "OIDCC-10.1", "the ID token's header has no kid",
       "test_header_has_a_kid_even_with_a_single_key"),
    _d("id-token-no-kid-among-keys", "OIDCC-10.1",
       "the JWKS holds two signing keys and the ID token's header has no kid",
       "test_header_names_its_key"),
    _d("id-token-wrong-iss", "OIDCC-3.1.3.7-2", "the ID token's iss is not the issuer",
       "test_iss_is_the_issuer", breaks=HINT_CHECKS),
    _d("id-token-wrong-aud", "OIDCC-3.1.3.7-3", "the ID token's aud is another client",
       "test_aud_contains_the_client_id", breaks=HINT_CHECKS),
    _d("id-token-wrong-azp", "OIDCC-3.1.3.7-5", "the ID token's azp is another client",
       "test_azp_is_the_client_id_when_present"),
    _d("id-token-expired", "OIDCC-3.1.3.7-9", "the ID token is issued already expired",
       "test_exp_is_in_the_future"),
    _d("id-token-iat-future", "OIDCC-3.1.3.7-10", "the ID token's iat is an hour ahead",
       "test_iat_is_recent"),
    _d("nonce-not-echoed", "OIDCC-3.1.3.7-11",
       "the ID token omits the nonce of the authorization request", "test_nonce_is_the_one_sent"),
    _d("nonce-invented", "OIDCC-3.1.3.7-11", "the ID token has a nonce although none was sent",
       "test_no_nonce_when_none_was_sent",
       breaks=("test_refreshed_id_token_keeps_the_original_claims",)),
    _d("at-hash-wrong", "OIDCC-3.3.2.11", "the ID token's at_hash does not match the access token",
       "test_at_hash_matches_the_access_token"),
    _d("sub-too-long", "OIDCC-2", "sub is 300 characters long", "test_sub_is_a_short_ascii_string",
       breaks=("test_userinfo_matches_the_psc_schema",)),
    _d("sub-per-session", "OIDCC-2", "sub changes with every session",
       "test_sub_is_stable_across_logins",
       breaks=("test_id_token_hint_of_the_current_user_is_silent",)),
    _d("acr-below-requested", "OIDCC-3.1.3.7-12", "the ID token's acr is \"eidas0\"",
       "test_acr_is_at_least_eidas1", breaks=("test_acr_is_at_least_the_requested_level",)),
    _d("id-token-extra-claims", "OIDCC-5.4", "the ID token carries the professional's names",
       breaks=("test_no_unrequested_claims",)),
    _d("auth-time-missing", "OIDCC-2", "ID tokens lack auth_time even when max_age was sent",
       "test_auth_time_is_present_when_max_age_was_requested"),
    # UserInfo (OIDC Core §5.3, RFC 6750)
    _d("userinfo-sub-mismatch", "OIDCC-5.3.2", "userinfo returns a sub other than the ID token's",
       "test_userinfo_sub_is_the_id_token_sub", breaks=(PSC_SAME_PROFESSIONAL,)),
    _d("userinfo-post-unsupported", "OIDCC-5.3.1", "userinfo refuses POST",
       "test_userinfo_answers_with_a_bearer_header[post-header]",
       breaks=("test_userinfo_accepts_the_token_in_the_body",)),
    _d("userinfo-body-token-ignored", "RFC6750-2.2", "userinfo ignores a token in the body",
       breaks=("test_userinfo_accepts_the_token_in_the_body",)),
    _d("userinfo-get-unsupported", "OIDCC-5.3.1", "userinfo refuses GET",
       "test_userinfo_answers_with_a_bearer_header[get]", breaks=USERINFO_READERS),
    _d("userinfo-wrong-content-type", "OIDCC-5.3.2", "userinfo is served as text/plain",
       "test_userinfo_is_json_or_a_jwt"),
    _d("signed-userinfo-no-aud", "OIDCC-5.3.2", "signed userinfo lacks aud",
       "test_signed_userinfo_names_issuer_and_audience"),
    _d("signed-userinfo-bad-signature", "OIDCC-5.3.2", "signed userinfo does not verify",
       "test_signed_userinfo_verifies"),
    _d("userinfo-no-challenge", "RFC6750-3",
       "a userinfo request without token gets 401 without WWW-Authenticate",
       "test_missing_token_gets_a_bearer_challenge"),
    _d("userinfo-invalid-token-no-challenge", "RFC6750-3",
       "userinfo refuses an invalid token with 401 but no WWW-Authenticate",
       "test_invalid_token_gets_a_bearer_challenge",
       breaks=("test_invalid_token_is_refused_with_invalid_token",)),
    _d("userinfo-bad-token-not-invalid-token", "RFC6750-3.1",
       "an unknown token gets error=\"invalid_request\"",
       "test_invalid_token_is_refused_with_invalid_token"),
    # Refresh (RFC 6749 §6, OIDC Core §12)
    _d("refresh-broken", "RFC6749-6", "every refresh is refused",
       "test_refresh_token_gets_new_tokens", "test_refreshed_access_token_works",
       "test_refresh_tokens_rotate_and_a_reused_one_is_refused",
       # Their positive control (the right refresh works) cannot hold: they cannot judge.
       breaks=("test_refresh_token_is_bound_to_its_client", "test_refresh_cannot_widen_the_scope",
               "test_revoked_refresh_token_cannot_be_used")),
    _d("refresh-id-token-changes-auth-time", "OIDCC-12.2",
       "a refreshed ID token has another auth_time",
       "test_refreshed_id_token_keeps_the_original_claims"),
    _d("refresh-not-bound-to-client", "RFC6749-6", "a refresh token works for any client",
       "test_refresh_token_is_bound_to_its_client"),
    _d("refresh-scope-widening", "RFC6749-6", "a refresh may ask for more scope",
       "test_refresh_cannot_widen_the_scope"),
    _d("refresh-not-rotated", "RFC9700-4.14.2", "refresh tokens are reusable, never rotated",
       "test_refresh_tokens_rotate_and_a_reused_one_is_refused"),
    _d("refreshed-access-token-unusable", "RFC6749-6",
       "access tokens from a refresh are refused at userinfo", "test_refreshed_access_token_works"),
    # Revocation (RFC 7009) and introspection (RFC 7662)
    _d("revocation-ignores-access-tokens", "RFC7009-2.2", "revoking an access token has no effect",
       "test_revoking_an_access_token_succeeds_and_it_stops_working",
       "test_revoked_token_is_inactive"),
    _d("revocation-ignores-refresh-tokens", "RFC7009-2.1",
       "revoking a refresh token has no effect", "test_revoked_refresh_token_cannot_be_used"),
    _d("revocation-unknown-token-error", "RFC7009-2.2",
       "revoking an unknown token is answered 400", "test_revoking_an_unknown_token_is_200"),
    _d("revocation-without-authentication", "RFC7009-2.1",
       "revocation works without client credentials",
       "test_revocation_requires_client_authentication"),
    _d("introspection-unknown-active", "RFC7662-2.2",
       "introspection says active for tokens it does not know", "test_unknown_token_is_inactive",
       "test_revoked_token_is_inactive"),
    _d("introspection-active-reported-inactive", "RFC7662-2.2",
       "introspection says inactive for valid tokens", "test_active_access_token_is_active",
       breaks=(PSC_SAME_PROFESSIONAL, "test_introspection_returns_the_psc_fields",
               "test_active_response_names_client_and_expiry", "test_acr_is_at_least_eidas1")),
    _d("introspection-without-authentication", "RFC7662-2.1",
       "introspection answers without client credentials",
       "test_introspection_requires_authentication"),
    _d("introspection-no-client-id", "RFC7662-2.2", "introspection omits client_id",
       breaks=("test_active_response_names_client_and_expiry",)),
    # RP-initiated logout
    _d("logout-state-dropped", "OIDCRIL-2", "the post-logout redirect omits state",
       "test_logout_redirects_to_the_registered_uri_with_state"),
    _d("logout-state-invented", "OIDCRIL-2", "the post-logout redirect adds a state",
       "test_no_state_is_echoed_when_none_was_sent"),
    _d("logout-session-kept", "OIDCRIL-2", "logout does not end the SSO session",
       "test_logout_ends_the_session"),
    _d("logout-any-redirect", "OIDCRIL-3", "any post_logout_redirect_uri is followed",
       "test_unregistered_post_logout_redirect_uri_is_not_followed",
       "test_post_logout_redirect_uri_with_added_query_is_not_followed"),
    _d("logout-redirect-prefix-match", "OIDCRIL-3",
       "a post_logout_redirect_uri that starts with a registered one is followed",
       "test_post_logout_redirect_uri_with_added_query_is_not_followed"),
    _d("logout-without-confirmation", "OIDCRIL-2",
       "a logout request without id_token_hint ends the session without asking",
       "test_logout_without_hint_asks_the_user"),
    _d("logout-default-redirect", "OIDCRIL-3",
       "a logout request naming no redirect URI is sent to a client's page anyway",
       "test_state_alone_does_not_send_the_user_away"),
    _d("logout-hint-not-verified", "OIDCRIL-2",
       "the id_token_hint's signature is not verified at logout",
       "test_invalid_id_token_hint_is_not_honoured"),
    # CIBA (poll mode)
    _d("ciba-no-expires-in", "CIBA-7.3", "the CIBA acknowledgement lacks expires_in",
       "test_authentication_request_is_acknowledged"),
    _d("ciba-pending-as-slow-down", "CIBA-11", "a pending request is always slow_down",
       "test_polling_before_approval_is_authorization_pending"),
    _d("ciba-no-slow-down", "CIBA-11", "fast polling never gets slow_down",
       breaks=("test_polling_too_fast_is_slow_down",)),
    _d("ciba-approval-ignored", "CIBA-11", "an approved request stays pending",
       "test_approved_request_returns_tokens"),
    _d("ciba-denial-ignored", "CIBA-11", "a denied request stays pending",
       "test_denied_request_is_access_denied"),
    _d("ciba-unknown-user-accepted", "CIBA-13", "an unknown login_hint is accepted",
       "test_unknown_user_is_refused"),
    _d("ciba-hint-optional", "CIBA-7.1", "a CIBA request without hint is accepted",
       "test_request_without_hint_is_refused"),
    _d("ciba-no-client-authentication", "CIBA-7.1",
       "the CIBA endpoint accepts requests without client credentials",
       "test_request_needs_client_authentication"),
    # mTLS (RFC 8705) and RFC 9700
    _d("mtls-certificate-not-required", "RFC8705-2",
       "a tls_client_auth client is accepted without certificate",
       "test_token_request_without_certificate_is_invalid_client"),
    _d("mtls-cnf-wrong", "RFC8705-3.1", "cnf.x5t#S256 is not the certificate's thumbprint",
       "test_access_token_is_bound_to_the_certificate"),
    _d("mtls-binding-not-enforced", "RFC8705-3",
       "certificate-bound tokens work without the certificate",
       "test_bound_access_token_needs_the_certificate"),
    _d("access-token-alg-none", "RFC9700-2.6", "access tokens are unsigned JWTs",
       "test_jwt_access_token_is_never_unsigned"),
    # Pro Santé Connect claims, tokens and discovery (fact sheet §2-§4)
    _d("psc-pivot-missing", "PSC-CLAIMS-PIVOT", "UserInfo lacks family_name",
       "test_identite_pivot_is_present",
       breaks=("test_userinfo_matches_the_psc_schema", "test_userinfo_carries_every_observed_key")),
    _d("psc-scope-all-ignored", "PSC-SCOPE-ALL", "scope_all releases no sectoral claim",
       "test_scope_all_releases_the_sectoral_claims",
       breaks=("test_userinfo_matches_the_psc_schema", "test_auth_mode_matches_the_login_method",
               "test_each_activity_has_a_mode_and_a_place_of_practice",
               "test_userinfo_carries_every_observed_key")),
    _d("psc-schema-type", "PSC-SCHEMA", "otherIds qualite is the string \"1\"",
       "test_userinfo_matches_the_psc_schema"),
    _d("psc-activity-without-mode", "PSC-SECTORAL", "activities have an empty codeModeExercice",
       "test_each_activity_has_a_mode_and_a_place_of_practice"),
    _d("psc-unknown-profession", "PSC-NOMENCLATURE", "exercices have codeProfession \"X1\"",
       "test_codes_are_in_their_nomenclatures",
       breaks=("test_subject_role_lists_the_professions_of_the_exercices",)),
    _d("psc-siret-check-digit", "PSC-IDENTIFIERS",
       "the first activity has a SIRET whose check digit is wrong", "test_identifiers_are_valid"),
    _d("psc-idnat-check-digit", "PSC-IDENTIFIERS", "UserInfo's idNat has a wrong RPPS check digit",
       "test_identifiers_are_valid",
       breaks=(PSC_SAME_PROFESSIONAL,)),
    _d("psc-subject-role-wrong-oid", "PSC-CODE-OID", "SubjectRole carries the TRE_G15 OID",
       "test_code_oid_claims_are_well_formed",
       breaks=("test_userinfo_matches_the_psc_schema",)),
    _d("psc-organization-id-mismatch", "PSC-CONSISTENCY",
       "SubjectOrganizationID is not the first activity's structure",
       "test_organisation_and_identifier_claims_agree"),
    _d("psc-subject-role-mismatch", "PSC-CONSISTENCY", "SubjectRole is 60 for everyone",
       "test_subject_role_lists_the_professions_of_the_exercices"),
    _d("psc-authmode-always-card", "PSC-AUTHMODE", "authMode is CARD even for e-CPS logins",
       "test_auth_mode_matches_the_login_method[ecps-MOBILE]"),
    _d("psc-authmode-always-mobile", "PSC-AUTHMODE", "authMode is MOBILE even for CPS card logins",
       "test_auth_mode_matches_the_login_method[cps-CARD]"),
    _d("psc-introspection-other-professional", "PSC-CONSISTENCY",
       "introspection names another professional",
       PSC_SAME_PROFESSIONAL),
    _d("psc-introspection-without-psc-fields", "PSC-INTROSPECTION",
       "introspection omits authMode and otherIds", "test_introspection_returns_the_psc_fields"),
    _d("psc-access-token-lifetime", "PSC-LIFETIME", "access tokens live 300 s",
       "test_access_token_lives_120_seconds"),
    _d("psc-refresh-lifetime", "PSC-LIFETIME", "refresh tokens live an hour",
       "test_refresh_token_lives_at_most_30_minutes"),
    _d("psc-discovery-no-scope-all", "PSC-DISCOVERY", "scopes_supported omits scope_all",
       "test_scope_all_is_advertised"),
    _d("psc-discovery-no-eidas1", "PSC-DISCOVERY", "acr_values_supported omits eidas1",
       "test_eidas1_is_advertised"),
    _d("psc-discovery-no-psc-claims", "PSC-DISCOVERY", "claims_supported omits the PSC claims",
       "test_psc_claims_are_advertised"),
]
# fmt: on


# Families: one defect per discovery member a parametrized check judges, each altering that
# member alone. The members come from schemas/oidc/discovery.schema.json, as the checks' do.
def slug(member: str) -> str:
    return member.replace("_", "-")


def missing_member(member: str) -> str:
    """The defect that leaves REQUIRED `member` out of discovery."""
    return f"discovery-missing-{slug(member)}"


def member_as_string(member: str) -> str:
    """The defect that serves list or boolean `member` as a string."""
    return f"discovery-{slug(member)}-as-string"


def non_bcp47(member: str) -> str:
    """The defect that lists a tag that is not BCP 47 in locale list `member`."""
    return f"discovery-non-bcp47-{slug(member)}"


REQUIRED_MEMBERS: tuple[str, ...] = tuple(
    registry().contents(schema_id("oidc:discovery"))["required"]
)
LIST_MEMBERS = tuple(sorted(m for m, kind in member_types().items() if kind == "strings"))
BOOLEAN_MEMBERS = tuple(sorted(m for m, kind in member_types().items() if kind == "boolean"))
LOCALE_MEMBERS = ("ui_locales_supported", "claims_locales_supported")
# What else fails (not only errors) when a member is absent or malformed: the checks that
# compare with it (an absent issuer is None, not an error).
_MEMBER_BREAKS: dict[str, tuple[str, ...]] = {
    "issuer": (
        *ISSUER_CHECKS,
        "test_issuer_matches_the_discovery_url",
        "test_issuer_is_an_https_url_without_query_or_fragment",
    ),
    "response_types_supported": ("test_response_types_include_code",),
    "grant_types_supported": ("test_grant_types_are_a_non_empty_list_with_authorization_code",),
    "id_token_signing_alg_values_supported": ("test_id_token_signing_algs_include_rs256",),
}


def discovery_families() -> list[Defect]:
    found = []
    # (members, defect name, requirement, what the member becomes, the check that catches it)
    families = (
        (REQUIRED_MEMBERS, missing_member, "OIDCD-3", "discovery omits the REQUIRED {}",
         "test_required_member_is_present"),
        (LIST_MEMBERS, member_as_string, "RFC8414-2",
         "{} is a space-separated string, not a JSON array",
         "test_list_member_is_an_array_of_strings"),
        (BOOLEAN_MEMBERS, member_as_string, "OIDCD-3",
         '{} is the string "true" or "false", not a JSON boolean',
         "test_boolean_member_is_a_boolean"),
    )  # fmt: skip
    for members, name, requirement, description, check in families:
        for member in members:
            found.append(
                Defect(
                    name(member),
                    requirement,
                    description.format(member),
                    (f"{check}[{member}]",),
                    _MEMBER_BREAKS.get(member, ()),
                    prerequisite=member,
                )
            )
    for member in LOCALE_MEMBERS:
        found.append(
            Defect(
                non_bcp47(member),
                "RFC8414-2" if member == "ui_locales_supported" else "OIDCD-3",
                f'{member} holds "en_US", which is not a BCP 47 tag',
                (f"test_locales_are_bcp47_tags[{member}]",),
            )
        )
    return found


_ALL.extend(discovery_families())

DEFECTS: dict[str, Defect] = {d.name: d for d in _ALL}


class UnknownDefect(ValueError):
    pass


class ActiveDefects:
    """The defects switched on; asking for a name that is not registered is a programming error."""

    def __init__(self, names: list[str] | tuple[str, ...] = ()) -> None:
        unknown = [n for n in names if n not in DEFECTS]
        if unknown:
            raise UnknownDefect(
                f"unknown defect(s) {', '.join(unknown)}; "
                "see `psc-testkit simulator --list-defects`"
            )
        # Reassigned while the simulator runs when a lie switches defects on (Provider.serve_lie).
        self.names = frozenset(names)

    def __contains__(self, name: str) -> bool:
        if name not in DEFECTS:
            raise KeyError(f"defect {name!r} is not registered")
        return name in self.names

    def __bool__(self) -> bool:
        return bool(self.names)


def listing() -> str:
    width = max(len(d.name) for d in _ALL)
    req = max(len(d.requirement) for d in _ALL)
    return "\n".join(f"{d.name:<{width}}  {d.requirement:<{req}}  {d.description}" for d in _ALL)


def markdown() -> str:
    """docs/defects.md: defect → requirement → the checks that catch it."""
    lines = [
        "# Simulator defects",
        "",
        "Generated by `python -m psc_testkit.simulator.defects > docs/defects.md`; do not edit.",
        "",
        "Each defect breaks one requirement; `tests/test_defect_matrix.py` proves that the checks",
        "listed catch it (they fail, or warn for a SHOULD) and that nothing unrelated fails.",
        '"May also break" lists checks that depend on what the defect broke.',
        "",
        f"{len(_ALL)} defects.",
        "",
        "| defect | requirement | what it breaks | caught by | may also break |",
        "| --- | --- | --- | --- | --- |",
    ]
    for d in _ALL:
        checks = "<br>".join(f"`{c}`" for c in d.checks) or "(load tests: availability)"
        breaks = "<br>".join(f"`{c}`" for c in d.breaks)
        lines.append(f"| `{d.name}` | {d.requirement} | {d.description} | {checks} | {breaks} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
