from datetime import timedelta

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MessagingConfig(AppConfig):
    name = "aftersales.messaging"
    label = "messaging"
    verbose_name = _("Messaging platforms")

    def ready(self) -> None:
        from aftersales.accounts import authz, catalog
        from aftersales.messaging import services
        from aftersales.messaging.models import InboundMessage, OutboundMessage, PlatformAccount
        from aftersales.outbox.registry import register_subscriber
        from aftersales.outbox.scheduler import register_periodic

        catalog.register_object_type(
            "messaging", "platformaccount", _("Messaging platforms"), actions=("view",)
        )
        catalog.register_permission(
            services.MANAGE,
            _("Connect WeChat, WeCom and DingTalk accounts and read their messages"),
            _("Messaging platforms"),
        )
        rule = authz.ScopeRule(business_line="business_line")
        authz.register_scope(PlatformAccount, rule)
        authz.register_scope(
            InboundMessage, authz.ScopeRule(business_line="account__business_line")
        )
        authz.register_scope(
            OutboundMessage, authz.ScopeRule(business_line="account__business_line")
        )
        # Filing a message may call the platform (user info, the picture): not transactional,
        # idempotent by the message row's state.
        register_subscriber(
            "messaging.file_message",
            ("messaging.message_received",),
            services.on_message_received,
            transactional=False,
        )
        register_subscriber("messaging.queue_reply", ("ticket.commented",), services.queue_reply)
        register_subscriber(
            "messaging.send_reply",
            ("messaging.reply_queued",),
            services.on_reply_queued,
            transactional=False,
        )
        register_periodic(
            "messaging.send_due_replies",
            every=timedelta(minutes=1),
            function=services.send_due_replies,
        )
        register_periodic(
            "messaging.retry_stuck_inbound",
            every=timedelta(minutes=5),
            function=services.retry_stuck_inbound,
        )
