"""Every write to tickets and their configuration, one function per use case.

``config`` shapes ticket types and lifecycles; ``tickets`` creates and changes tickets;
``conversation`` adds replies, notes and files; ``macros`` and ``saved_views`` keep agents'
canned responses and saved inbox views. Callers import this package and call the function by
name.
"""

from aftersales.tickets.services.config import *  # noqa: F403
from aftersales.tickets.services.conversation import *  # noqa: F403
from aftersales.tickets.services.macros import *  # noqa: F403
from aftersales.tickets.services.saved_views import *  # noqa: F403
from aftersales.tickets.services.tickets import *  # noqa: F403
