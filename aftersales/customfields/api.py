"""API of the customfields app."""

from ninja import Router

router = Router()
