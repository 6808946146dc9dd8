"""The learned miscompression detector: the network and its score maps (``model``), the
synthetic examples it learns from (``data``), training and evaluation (``training``), audits
(``audit``), and active learning from studies' labels (``study_labels``, ``retraining``; the
table the results page reads is ``records``). Worker and CLI only where torch is needed:
everything that needs it imports it inside functions, so the web process may import
``records`` and ``retraining`` to ask for a retraining."""
