"""The pure core: no web framework, ORM, template engine or task queue imported here."""
