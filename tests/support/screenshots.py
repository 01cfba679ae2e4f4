"""Where browser tests save the pictures the docs show.

A test run writes them to artifacts/screenshots (ignored by git), so running the suite never dirties docs/images.
``AUTHSERVER_UPDATE_DOC_IMAGES=1`` writes them to docs/images instead, to refresh the README's pictures on purpose.
"""

from __future__ import annotations

import os

from tests.support.servers import ROOT

DOC_IMAGES = (
    ROOT / "docs" / "images"
    if os.environ.get("AUTHSERVER_UPDATE_DOC_IMAGES") == "1"
    else ROOT / "artifacts" / "screenshots"
)
DOC_IMAGES.mkdir(parents=True, exist_ok=True)
