from datetime import timedelta

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RoutingConfig(AppConfig):
    name = "aftersales.routing"
    label = "routing"
    verbose_name = _("Routing")

    def ready(self) -> None:
        from aftersales.accounts import authz, catalog
        from aftersales.routing import reactions
        from aftersales.routing.models import AgentProfile, Region, Skill, TeamRouting

        catalog.register_object_type(
            "routing", "skill", _("Skills"), actions=("view", "add", "change", "delete")
        )
        catalog.register_object_type(
            "routing", "region", _("Regions"), actions=("view", "add", "change", "delete")
        )
        catalog.register_object_type(
            "routing", "agentprofile", _("Agent profiles"), actions=("view", "change")
        )
        catalog.register_object_type(
            "routing", "teamrouting", _("Team routing"), actions=("view", "change")
        )
        for codename, label in (
            ("routing.set_own_availability", _("Set one's own availability")),
            ("routing.get_next_ticket", _("Take the next ticket from the queue")),
            ("routing.view_queue", _("See the queues of one's teams")),
        ):
            catalog.register_permission(codename, label, _("Routing"))
        # Skills and regions are shared configuration: no owner, only "all" grants reach them.
        authz.register_scope(Skill, authz.ScopeRule())
        authz.register_scope(Region, authz.ScopeRule())
        authz.register_scope(
            AgentProfile,
            authz.ScopeRule(
                owner="user",
                team="user__team_memberships__team",
                business_line="user__team_memberships__team__business_line",
                many=True,
            ),
        )
        authz.register_scope(
            TeamRouting,
            authz.ScopeRule(owner="team__lead", team="team", business_line="team__business_line"),
        )

        from aftersales.outbox.registry import register_subscriber

        # One subscriber for both reactions: each delivery costs a claim and a commit.
        register_subscriber(
            "routing.react",
            (
                "ticket.created",
                "ticket.updated",
                "ticket.status_changed",
                "routing.availability_changed",
            ),
            reactions.react,
            eager=True,
        )
        from aftersales.outbox.scheduler import register_periodic

        register_periodic(
            "routing.drain_push_queues",
            every=timedelta(minutes=1),
            function=reactions.drain_push_queues,
        )
