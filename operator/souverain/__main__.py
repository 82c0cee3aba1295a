"""Allows ``python -m souverain``."""

from souverain.cli import main

raise SystemExit(main())
