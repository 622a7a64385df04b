from tests.tickets.conftest import (  # noqa: F401
    _fast_passwords,
    _media_in_tmp,
    desk,
    fast_hashing,
    make_ticket,
    make_type,
)
