"""One cache of decoded data sets and trained feature classifiers for the whole test session (GANBOARD_CACHE), so
that the image tests train each classifier once; a developer may point GANBOARD_CACHE at a lasting one."""

from __future__ import annotations

import os
import tempfile


def pytest_configure(config):
    os.environ.setdefault("GANBOARD_CACHE", tempfile.mkdtemp(prefix="ganboard-test-cache-"))
