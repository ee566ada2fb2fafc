"""Print the requirements Home Assistant's manifests name for some of its integrations.

`python tools/ha_requirements.py frontend tts` prints one requirement a line, as pinned in
the installed Home Assistant's manifests, for those integrations and everything they
depend on (dependencies and after_dependencies). A real Home Assistant installs these
when it first sets an integration up; a test environment (and `hass --skip-pip`) needs
them installed beforehand. `make pin-newest` uses it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import homeassistant.components


def requirements(domains: list[str]) -> list[str]:
    """Every requirement of these integrations and of those they depend on, sorted."""
    components = Path(homeassistant.components.__file__).parent
    seen: set[str] = set()
    found: set[str] = set()
    pending = list(domains)
    while pending:
        domain = pending.pop()
        manifest_path = components / domain / "manifest.json"
        if domain in seen or not manifest_path.exists():
            continue
        seen.add(domain)
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        found.update(manifest.get("requirements", []))
        pending.extend(manifest.get("dependencies", []) + manifest.get("after_dependencies", []))
    return sorted(found, key=str.lower)


if __name__ == "__main__":
    print("\n".join(requirements(sys.argv[1:])))
