"""Embeddable web forms: a ticket type's form on the company's own site."""
