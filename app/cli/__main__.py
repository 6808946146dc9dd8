"""``python -m app.cli``: the same as the ``miscomp`` console script."""

from app.cli import main

main()
