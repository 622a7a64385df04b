"""Every write of the routing app, one function per use case.

``routing`` decides who gets a ticket (:func:`route_to_team`, :func:`plan_route`,
:func:`escalate`, :func:`get_next`) and keeps agents' availability; ``config`` changes skills,
regions, agent profiles and team routing. Callers import this package and call by name.
"""

from aftersales.routing.services.config import *  # noqa: F403
from aftersales.routing.services.routing import *  # noqa: F403
