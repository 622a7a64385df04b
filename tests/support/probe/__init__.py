"""A test-only app: an outbox subscriber and a periodic job that leave traces in files.

Never installed in production. Worker subprocesses load it with
``AFTERSALES_EXTRA_APPS=tests.support.probe``; the test process registers the same handlers
through :func:`register` (see ``tests/outbox/conftest.py``).
"""
