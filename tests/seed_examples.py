"""The seed's example request bodies (section 5), shared by tests and the venue benchmark."""

from __future__ import annotations

from typing import Any

SEED_RUN_EFFECT: dict[str, Any] = {
    "room": "Entrance",
    "effect_name": "Lightning",
    "audio": {"volume": 0.8, "loop": False},
    "all_rooms": False,
}
SEED_RUN_EFFECT_ALL_ROOMS: dict[str, Any] = {
    "effect_name": "Lightning",
    "audio": {"volume": 0.8, "loop": False},
}
