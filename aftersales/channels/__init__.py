"""E-mail channels: mailboxes in (IMAP, SMTP/LMTP) and out, with loop protection."""
