"""The shipped detector's weights and model card (package data; see ../model.py)."""
