"""Permission codenames of the tickets app.

Ticket types are configuration: reading them takes ``view_tickettype``; every change to a type,
its statuses or its transitions takes ``configure_tickettype`` within the actor's scope on the
type's business line. (The agent role's ``tickets.add_*`` pattern is meant for tickets, so
``add_tickettype`` alone never lets anyone change configuration.)
"""

VIEW_TICKET_TYPE = "tickets.view_tickettype"
CONFIGURE_TICKET_TYPE = "tickets.configure_tickettype"
