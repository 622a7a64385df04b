"""Background tasks of the outbox. Tasks only deliver; the truth is in the delivery rows."""

from __future__ import annotations

from django_tasks import task

from aftersales.outbox import scheduler, services


@task(queue_name="events")
def deliver_event(event_id: str) -> dict[str, int]:
    return services.deliver_event(event_id)


@task()
def run_periodic(name: str) -> object:
    result = scheduler.run(name)
    return result if isinstance(result, int | str | dict | list | None) else str(result)
