"""Crop-proposal methods, registered by name.

Every module of this package other than ``base`` and ``registry`` is a method: it defines one
``ProposalMethod`` and registers it when imported, and the registry imports them all the
first time it is asked. Adding a method (a learned detector, an external script) is adding
one module here; nothing else names it. ``base`` says what a method declares.
"""
