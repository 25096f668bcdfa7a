"""Admin access decided without a server: who the caller is behind proxies, the token
check and its throttle, and cross-site requests."""

import pytest

from lib.server.access import AuthThrottle, Caller, auth_throttle, check_admin, cross_site_reason, resolve_caller

PROXY = ("10.0.0.5",)


@pytest.mark.parametrize(
    ("peer", "headers", "trusted", "expected"),
    [
        ("127.0.0.1", {}, (), Caller("127.0.0.1")),
        # forwarding headers from a peer that is not a trusted proxy: ignored, and flagged
        ("127.0.0.1", {"x-forwarded-for": "203.0.113.9"}, (), Caller("127.0.0.1", untrusted_forwarding=True)),
        # a trusted proxy: the first untrusted address from the right, as uvicorn reads it
        ("10.0.0.5", {"x-forwarded-for": "198.51.100.1, 203.0.113.9"}, PROXY, Caller("203.0.113.9")),
        ("10.0.0.5", {"x-forwarded-for": "203.0.113.9, 10.0.0.5"}, PROXY, Caller("203.0.113.9")),
        ("10.0.0.5", {"x-forwarded-for": "not-an-address"}, PROXY, Caller(None)),  # never echoed as is
        ("10.0.0.7", {"x-forwarded-for": "127.0.0.1"}, ("10.0.0.0/24",), Caller("127.0.0.1")),
    ],
)
def test_the_caller_is_the_peer_unless_a_trusted_proxy_forwarded_for_someone(peer, headers, trusted, expected):
    assert resolve_caller(peer, headers, trusted) == expected


def test_without_a_token_only_this_machine_is_admin_and_never_through_untrusted_forwarding():
    assert check_admin(None, Caller("127.0.0.1"), None).allowed
    assert check_admin(None, Caller("::1"), None).allowed
    remote = check_admin(None, Caller("203.0.113.9"), None)
    assert (remote.allowed, remote.status) == (False, 403) and "ADMIN_TOKEN" in remote.reason
    assert not check_admin(None, Caller("127.0.0.1", untrusted_forwarding=True), None).allowed
    assert not check_admin(None, Caller(None), None).allowed


def test_with_a_token_the_bearer_must_match_whoever_calls():
    local = Caller("127.0.0.1")
    assert check_admin(None, local, "s3cret").status == 401  # loopback is not enough any more
    assert check_admin("Basic s3cret", local, "s3cret").status == 401
    assert check_admin("Bearer wrong", local, "s3cret").status == 403
    assert check_admin("Bearer s3cret", Caller("203.0.113.9"), "s3cret").allowed
    assert check_admin("bearer  s3cret ", Caller("203.0.113.9"), "s3cret").allowed


def test_wrong_tokens_are_throttled_per_client_and_the_window_slides():
    throttle = AuthThrottle(max_failures=3, window_s=60)
    for second in range(3):
        assert throttle.retry_after("a", now=100 + second) is None
        throttle.record_failure("a", now=100 + second)
    assert throttle.retry_after("a", now=103) == 57  # until the first failure leaves the window
    assert throttle.retry_after("b", now=103) is None  # another client is not affected
    assert throttle.status(now=103) == {"failures": 3, "throttled": 1, "clients_blocked": 1}
    assert throttle.retry_after("a", now=160.5) is None


def test_the_process_throttle_answers_429_after_too_many_wrong_tokens():
    attacker = Caller("203.0.113.9")
    for _ in range(auth_throttle.max_failures):
        assert check_admin("Bearer guess", attacker, "s3cret").status == 403
    blocked = check_admin("Bearer s3cret", attacker, "s3cret")  # even the right token waits
    assert (blocked.status, blocked.retry_after_s is not None) == (429, True)
    assert check_admin("Bearer s3cret", Caller("198.51.100.1"), "s3cret").allowed


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        ({}, False),  # a program: no browser headers
        ({"sec-fetch-site": "same-origin", "origin": "http://app:8501", "host": "app:8501"}, False),
        ({"sec-fetch-site": "none"}, False),  # typed in the address bar
        ({"sec-fetch-site": "cross-site"}, True),
        ({"sec-fetch-site": "same-site"}, True),
        ({"origin": "http://evil.example", "host": "app:8501"}, True),
        ({"origin": "null", "host": "app:8501"}, True),
    ],
)
def test_a_state_changing_request_from_another_site_is_refused(headers, refused):
    assert (cross_site_reason(headers) is not None) == refused
