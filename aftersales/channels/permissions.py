"""Permission codenames of the e-mail channel."""

MANAGE_MAILBOXES = "channels.manage_mailboxes"
