"""The panes of a study item: the original and the panes raters compare with it."""

from __future__ import annotations

from typing import Final, Literal

PaneName = Literal["original", "reconstruction", "jpeg", "versus", "difference"]
"""A pane's name, as schemas accept it (typing needs the words spelled out here;
``tests/domain/test_panes.py`` checks that they are ``ALL``)."""

ORIGINAL: Final = "original"
RECONSTRUCTION: Final = "reconstruction"
JPEG: Final = "jpeg"
"""The bpp-matched JPEG of the reconstruction."""
VERSUS: Final = "versus"
"""A second codec's reconstruction of the same image (a study with a versus run)."""
COMPARED: tuple[str, ...] = (RECONSTRUCTION, JPEG, VERSUS)
"""The panes a blind study shows under the labels A, B...: which is which is what it hides."""
DIFFERENCE: Final = "difference"
"""The reconstruction's amplified difference (unblinded studies only: it belongs to one pane)."""
ALL: tuple[str, ...] = (ORIGINAL, *COMPARED, DIFFERENCE)
DEFAULT: tuple[PaneName, ...] = (ORIGINAL, RECONSTRUCTION, JPEG)
"""The panes of a new study unless it names others."""
