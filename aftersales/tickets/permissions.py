"""Permission codenames of the tickets app.

Ticket types are configuration: reading them takes ``view_tickettype``; every change to a type,
its statuses or its transitions takes ``configure_tickettype`` within the actor's scope on the
type's business line. (The agent role's ``tickets.add_*`` pattern is meant for tickets, so
``add_tickettype`` alone never lets anyone change configuration.)
"""

VIEW_TICKET_TYPE = "tickets.view_tickettype"
CONFIGURE_TICKET_TYPE = "tickets.configure_tickettype"

VIEW_TICKET = "tickets.view_ticket"
ADD_TICKET = "tickets.add_ticket"
CHANGE_TICKET = "tickets.change_ticket"
DELETE_TICKET = "tickets.delete_ticket"
EXPORT_TICKET = "tickets.export_ticket"
TAKE_TICKET = "tickets.take_ticket"
REPLY_TICKET = "tickets.reply_ticket"
ADD_NOTE = "tickets.add_note"
MERGE_TICKET = "tickets.merge_ticket"
ADD_MACRO = "tickets.add_macro"
SHARE_MACRO = "tickets.share_macro"
SHARE_VIEW = "tickets.share_savedview"
