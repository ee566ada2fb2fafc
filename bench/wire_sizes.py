"""Trigger size and decode cost: maze-link's play trigger against the seed's JSON message.

Prints one table. The baseline is the seed specification's `audio_start` JSON message for
the same effect, encoded and parsed with the standard library in the same run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from pi_satellite import link

ROUNDS = 200_000


def _per_call_ns(action: Callable[[], object]) -> float:
    start = time.perf_counter_ns()
    for _ in range(ROUNDS):
        action()
    return (time.perf_counter_ns() - start) / ROUNDS


def main() -> None:
    trigger = link.Play(
        cue_id=12,
        seq=48_213,
        start_us=86_400_000_000,
        output_mask=0b11,
        gain_permille=800,
        flags=0,
    )
    frame = link.encode(trigger)
    seed_message = {
        "type": "audio_start",
        "data": {"effect": "Lightning", "file": "lightning_crack.mp3", "volume": 0.8},
    }
    seed_text = json.dumps(seed_message).encode()

    link_ns = _per_call_ns(lambda: link.decode(frame))
    json_ns = _per_call_ns(lambda: json.loads(seed_text))

    rows = [
        ("play trigger payload (bytes)", len(frame), len(seed_text), "<= 24"),
        ("decode + validate (ns/message)", round(link_ns), round(json_ns), "-"),
    ]
    print(f"{'what':34} {'maze-link':>10} {'seed JSON':>10} {'ratio':>7}  budget")
    for what, ours, base, budget in rows:
        print(f"{what:34} {ours:>10} {base:>10} {ours / base:>7.2f}  {budget}")


if __name__ == "__main__":
    main()
