"""The learned miscompression detector: the network and its score maps (``model``), the
synthetic examples it learns from (``data``), training and evaluation (``training``). Worker
and CLI only: everything that needs torch imports it inside functions."""
