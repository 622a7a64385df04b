"""Notifications: templates per event and channel, recipients' preferences, durable deliveries."""
