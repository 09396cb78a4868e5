"""Root test configuration. Servers and fixtures come from the pgcron plugin (pgcron.testing.plugin,
loaded through its pytest11 entry point); this file only adds pytest's own `pytester`."""

from __future__ import annotations

pytest_plugins = ["pytester"]
