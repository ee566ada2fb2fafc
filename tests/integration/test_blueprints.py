"""The automation blueprints load in Home Assistant and call maze_manager.run_effect."""

from __future__ import annotations

import shutil
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import async_mock_service

from custom_components.maze_manager.const import DOMAIN

BLUEPRINTS = Path(__file__).parents[2] / "blueprints" / "automation" / "maze_manager"


async def _automation(hass: HomeAssistant, tmp_path: Path, blueprint: str, inputs: dict) -> None:
    hass.config.config_dir = str(tmp_path)
    target = tmp_path / "blueprints" / "automation" / "maze_manager"
    target.mkdir(parents=True)
    shutil.copy(BLUEPRINTS / blueprint, target / blueprint)
    config = {
        "automation": {
            "use_blueprint": {"path": f"maze_manager/{blueprint}", "input": inputs},
        }
    }
    assert await async_setup_component(hass, "automation", config)
    await hass.async_block_till_done()


async def test_switch_blueprint_runs_the_effect_on_the_chosen_press(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    calls = async_mock_service(hass, DOMAIN, "run_effect")
    hass.states.async_set("event.gate_pi_gate_button", "unknown", {"event_type": None})
    await _automation(
        hass,
        tmp_path,
        "switch_runs_effect.yaml",
        {
            "switch_event": "event.gate_pi_gate_button",
            "press_kind": "long_press",
            "effect_name": "Lightning",
            "rooms": ["Gate", "Entrance"],
        },
    )
    hass.states.async_set(
        "event.gate_pi_gate_button", "2026-11-25T20:00:00+00:00", {"event_type": "press"}
    )
    await hass.async_block_till_done()
    assert calls == []
    hass.states.async_set(
        "event.gate_pi_gate_button", "2026-11-25T20:00:05+00:00", {"event_type": "long_press"}
    )
    await hass.async_block_till_done()
    assert len(calls) == 1
    assert calls[0].data == {"effect_name": "Lightning", "rooms": ["Gate", "Entrance"]}


async def test_sensor_blueprint_runs_the_effect_when_the_sensor_turns_on(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    calls = async_mock_service(hass, DOMAIN, "run_effect")
    hass.states.async_set("binary_sensor.pressure_mat", "off")
    await _automation(
        hass,
        tmp_path,
        "sensor_runs_effect.yaml",
        {
            "trigger_sensor": "binary_sensor.pressure_mat",
            "effect_name": "Scream",
            "rooms": ["Crypt"],
            "cooldown": 0,
        },
    )
    hass.states.async_set("binary_sensor.pressure_mat", "on")
    await hass.async_block_till_done()
    assert len(calls) == 1
    assert calls[0].data == {"effect_name": "Scream", "rooms": ["Crypt"]}
