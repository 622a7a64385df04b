from datetime import timedelta

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "aftersales.notifications"
    label = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        from aftersales.accounts import authz, catalog
        from aftersales.notifications import conf, delivery, reactions
        from aftersales.notifications.models import Notification
        from aftersales.outbox.registry import register_subscriber
        from aftersales.outbox.scheduler import register_periodic

        catalog.register_object_type(
            "notifications",
            "notificationtemplate",
            _("Notification templates"),
            actions=("view", "add", "change", "delete"),
        )
        catalog.register_permission(
            "notifications.view_delivery", _("Read the delivery log"), _("Notifications")
        )
        catalog.register_permission(
            "notifications.configure_channels",
            _("Configure SMS, group robots and default notifications"),
            _("Notifications"),
        )
        # The delivery log of a notification belongs to its ticket's team and line.
        authz.register_scope(
            Notification,
            authz.ScopeRule(
                owner="recipient_user", team="ticket__team", business_line="ticket__business_line"
            ),
        )
        register_subscriber(
            "notifications.send",
            ("notification.created",),
            delivery.on_notification_created,
            transactional=False,
        )
        for key, topic, handler in (
            ("notifications.ticket_created", "ticket.created", reactions.on_ticket_created),
            ("notifications.public_reply", "ticket.commented", reactions.on_ticket_commented),
            ("notifications.assigned", "ticket.assigned", reactions.on_ticket_assigned),
            ("notifications.mentioned", "ticket.mentioned", reactions.on_ticket_mentioned),
        ):
            register_subscriber(key, (topic,), handler)
        register_periodic(
            "notifications.send_due",
            every=timedelta(seconds=conf.retry_seconds()),
            function=delivery.send_due,
        )
        register_periodic(
            "notifications.prune", every=timedelta(hours=6), function=delivery.prune_notifications
        )
        post_migrate.connect(_sync_defaults, sender=self)


def _sync_defaults(**kwargs: object) -> None:
    # Seeding configuration after migrate, like the predefined roles; not a business reaction.
    from aftersales.notifications.defaults import sync_default_templates

    sync_default_templates()
