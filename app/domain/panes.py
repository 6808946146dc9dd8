"""The panes of a study item: the original and the panes raters compare with it."""

from __future__ import annotations

ORIGINAL = "original"
RECONSTRUCTION = "reconstruction"
JPEG = "jpeg"
"""The bpp-matched JPEG of the reconstruction."""
VERSUS = "versus"
"""A second codec's reconstruction of the same image (a study with a versus run)."""
COMPARED = (RECONSTRUCTION, JPEG, VERSUS)
"""The panes a blind study shows under the labels A, B...: which is which is what it hides."""
DIFFERENCE = "difference"
"""The reconstruction's amplified difference (unblinded studies only: it belongs to one pane)."""
ALL = (ORIGINAL, *COMPARED, DIFFERENCE)
