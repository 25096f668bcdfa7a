"""Admin access from the browser fails closed when Streamlit's private context changes."""

import pytest
import streamlit.runtime.context as streamlit_context

from lib.server.access import check_admin, resolve_caller
from lib.ui.helpers import _browser_address


def refused_without_token(address: str | None) -> bool:
    decision = check_admin(None, resolve_caller(address, {}, ()), None, count_failure=False)
    return not decision.allowed


@pytest.mark.parametrize(
    "change",
    [
        lambda monkeypatch: monkeypatch.delattr(streamlit_context, "_get_client_context"),
        lambda monkeypatch: monkeypatch.setattr(streamlit_context, "_get_client_context", lambda: object()),
        lambda monkeypatch: monkeypatch.setattr(
            streamlit_context, "_get_client_context", lambda: (_ for _ in ()).throw(RuntimeError("moved"))
        ),
    ],
    ids=["function removed", "no remote_ip", "function raises"],
)
def test_a_changed_private_context_gives_no_address_and_no_admin(monkeypatch, change):
    change(monkeypatch)
    assert _browser_address() is None
    assert refused_without_token(_browser_address())


def test_the_loopback_browser_is_admin_without_a_token_when_the_context_works(monkeypatch):
    class Context:
        remote_ip = "127.0.0.1"

    monkeypatch.setattr(streamlit_context, "_get_client_context", lambda: Context())
    assert _browser_address() == "127.0.0.1"
    assert not refused_without_token(_browser_address())
