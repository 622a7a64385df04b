"""Portal tests reuse the tickets' service desk: line A's repair type, Alice and Bob with
portal logins, agents in and out of scope."""

from __future__ import annotations

from tests.tickets.conftest import (  # noqa: F401
    _fast_passwords,
    _media_in_tmp,
    desk,
    fast_hashing,
    make_ticket,
    make_type,
)
