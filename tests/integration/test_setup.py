"""The integration loads in Home Assistant."""

from __future__ import annotations

import json
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_custom_components
from homeassistant.setup import async_setup_component

from custom_components.maze_manager.const import DOMAIN, ZEROCONF_TYPE

MANIFEST = Path(__file__).parents[2] / "custom_components" / DOMAIN / "manifest.json"


async def test_integration_sets_up(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()
    assert DOMAIN in hass.config.components


async def test_home_assistant_reads_the_manifest(hass: HomeAssistant) -> None:
    integrations = await async_get_custom_components(hass)
    integration = integrations[DOMAIN]
    assert integration.version is not None
    assert str(integration.version) == json.loads(MANIFEST.read_text())["version"]
    assert integration.zeroconf == [ZEROCONF_TYPE]
