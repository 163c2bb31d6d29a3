"""The public API's OpenAPI document is the one committed in tests/snapshots/openapi.json: a
change to a response model, a parameter or a description shows up here as a diff to review,
not unnoticed in a client.

After an intended change, rewrite the snapshot and commit it with the change:
``MILKBOT_UPDATE_SNAPSHOTS=1 pytest tests/test_openapi_snapshot.py``.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

from tests.test_api import operator_client

SNAPSHOT = Path(__file__).parent / "snapshots" / "openapi.json"
UPDATE_ENV = "MILKBOT_UPDATE_SNAPSHOTS"
# The package version is release metadata, not part of the contract: a release must not need a
# new snapshot.
VERSION_PLACEHOLDER = "<package version>"
MAX_DIFF_LINES = 60


def canonical(document: dict[str, Any]) -> str:
    """The document as the snapshot stores it: sorted keys, two-space indents, the package
    version replaced by a placeholder."""
    document = {**document, "info": {**document["info"], "version": VERSION_PLACEHOLDER}}
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


async def test_openapi_document_matches_the_snapshot(db_url: str) -> None:
    async with operator_client(db_url) as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    served = canonical(response.json())
    if os.environ.get(UPDATE_ENV) == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(served, encoding="utf-8")
    stored = SNAPSHOT.read_text(encoding="utf-8") if SNAPSHOT.exists() else ""
    if served != stored:
        diff = list(
            difflib.unified_diff(
                stored.splitlines(),
                served.splitlines(),
                f"{SNAPSHOT.name} (committed)",
                "/openapi.json (served)",
                lineterm="",
            )
        )
        shown = "\n".join(diff[:MAX_DIFF_LINES])
        more = (
            f"\n... {len(diff) - MAX_DIFF_LINES} more diff lines"
            if len(diff) > MAX_DIFF_LINES
            else ""
        )
        raise AssertionError(
            f"the served OpenAPI document differs from {SNAPSHOT}:\n{shown}{more}\n"
            f"If the change is intended, rewrite the snapshot with {UPDATE_ENV}=1 and commit it."
        )
