"""Weights and model cards of the shipped codecs (package data; see ../shipped.py)."""
