"""What every ``sohoa`` sub-command reads from the global options: the settings to use.

One function, so ``--config`` and ``--data-dir`` mean the same thing in every command.
"""

from __future__ import annotations

import argparse
from typing import Any

from firmware.config import Settings, load_settings


def settings_from_args(args: argparse.Namespace, **overrides: Any) -> Settings:
    """Settings from ``--config`` (or its defaults) with ``--data-dir`` applied over them."""
    from firmware.demo.export import with_demo_export

    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    return with_demo_export(load_settings(getattr(args, "config", None), **overrides))
