from datetime import timedelta

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KnowledgeConfig(AppConfig):
    name = "aftersales.knowledge"
    label = "knowledge"
    verbose_name = _("Knowledge base")

    def ready(self) -> None:
        from aftersales.accounts import authz, catalog
        from aftersales.knowledge import services
        from aftersales.knowledge.models import Article, Category
        from aftersales.outbox import scheduler

        catalog.register_object_type("knowledge", "article", _("Knowledge articles"))
        catalog.register_object_type(
            "knowledge", "category", _("Knowledge categories"), actions=("view", "configure")
        )
        catalog.register_object_type(
            "knowledge", "synonym", _("Search synonyms"), actions=("view", "configure")
        )
        catalog.register_object_type(
            "knowledge", "searchlog", _("Searches without result"), actions=("view",)
        )
        catalog.register_permission(
            "knowledge.publish_article", _("Review and publish articles"), _("Knowledge base")
        )
        # Knowledge is shared per business line: an agent at "my teams" reaches the articles
        # of their teams' lines (team lookup through the line), restricted ones aside (see
        # selectors.articles_visible_to).
        authz.register_scope(
            Article,
            authz.ScopeRule(
                owner="author",
                team=("teams", "business_line__teams"),
                business_line="business_line",
                many=True,
            ),
        )
        authz.register_scope(
            Category,
            authz.ScopeRule(team="business_line__teams", business_line="business_line", many=True),
        )
        scheduler.register_periodic(
            "knowledge.remind_stale_articles",
            every=timedelta(hours=6),
            function=services.remind_stale_articles,
        )
