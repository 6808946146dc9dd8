from typing import get_args

from app.domain import panes


def test_every_pane_name_is_named_once() -> None:
    assert get_args(panes.PaneName) == panes.ALL
    assert set(panes.DEFAULT) <= set(panes.ALL)
