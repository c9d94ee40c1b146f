"""Reading in-process module results."""

from __future__ import annotations

import json


def warnings_of(result: dict) -> list[str]:
    """Warning texts of a module result (ansible-core 2.19 returns structured events in-process)."""
    texts = []
    for warning in result.get("warnings") or []:
        if isinstance(warning, dict):
            warning = (warning.get("event") or {}).get("msg") or json.dumps(warning)
        texts.append(warning)
    return texts
