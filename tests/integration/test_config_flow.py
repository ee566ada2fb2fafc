"""Config flows: the venue, satellites by hand and by zeroconf, reauth, reconfigure, options.

The satellite is simulated by patching the probe; every form, error and abort the flows
produce is also checked against strings.json, so none reaches a user untranslated.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Generator, Mapping
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, MagicMock, patch

import pytest
from homeassistant.config_entries import (
    SOURCE_USER,
    SOURCE_ZEROCONF,
    ConfigEntryState,
)
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.maze_manager import link
from custom_components.maze_manager.const import (
    CONF_DEFAULT_VOLUME,
    CONF_FINGERPRINT,
    CONF_KIND,
    CONF_LEAD_MS,
    CONF_PAIRING_KEY,
    CONF_SATELLITE_ID,
    CONF_SHOW_FOLDER,
    DEFAULT_PORT,
    DOMAIN,
    KIND_SATELLITE,
    KIND_VENUE,
    ZEROCONF_TYPE,
)
from custom_components.maze_manager.link.client import (
    SatelliteAddress,
    SatelliteAuthFailed,
    SatelliteUnreachable,
)

COMPONENT = Path(__file__).parents[2] / "custom_components" / DOMAIN
STRINGS = json.loads((COMPONENT / "strings.json").read_text())

KEY = bytes(range(32))
KEY_TYPED = link.format_pairing_key(KEY).upper()
NEW_KEY = bytes(range(100, 132))
FINGERPRINT = "a1" * 32
FINGERPRINT_TYPED = ":".join(["A1"] * 32)

CELLAR = link.Hello("sat-cellar", "Cellar", "0.1.0", 48000, (), (), ())
ATTIC = link.Hello("sat-attic", "Attic", "0.1.0", 48000, (), (), ())

PROBE_FAILURES = [
    (SatelliteUnreachable("connection refused"), "cannot_connect"),
    (SatelliteAuthFailed("the satellite does not hold this pairing key"), "invalid_auth"),
    (RuntimeError("boom"), "unknown"),
]


def satellite_data(
    host: str = "192.168.1.20",
    port: int = DEFAULT_PORT,
    key: bytes = KEY,
    fingerprint: str | None = None,
    satellite_id: str = "sat-cellar",
) -> dict[str, Any]:
    return {
        CONF_KIND: KIND_SATELLITE,
        CONF_HOST: host,
        CONF_PORT: port,
        CONF_PAIRING_KEY: key.hex(),
        CONF_FINGERPRINT: fingerprint,
        CONF_SATELLITE_ID: satellite_id,
    }


def discovery(
    *addresses: str,
    port: int | None = 8766,
    **txt: str,
) -> ZeroconfServiceInfo:
    ips = [ip_address(address) for address in addresses or ("192.168.1.30",)]
    properties = {"id": "sat-cellar", "name": "Cellar", "proto": "1", "version": "0.1.0"}
    properties.update(txt)
    return ZeroconfServiceInfo(
        ip_address=ips[0],
        ip_addresses=ips,
        port=port,
        hostname="maze-cellar.local.",
        type=ZEROCONF_TYPE,
        name=f"Cellar.{ZEROCONF_TYPE}",
        properties={k: v for k, v in properties.items() if v},
    )


def checked(result: Mapping[str, Any], section: str = "config") -> Mapping[str, Any]:
    """The flow result, after checking that strings.json has every text it needs."""
    strings = STRINGS[section]
    texts: list[str] = []
    if result["type"] is FlowResultType.ABORT:
        texts.append(strings["abort"][result["reason"]])
    if result["type"] in (FlowResultType.FORM, FlowResultType.MENU):
        step = strings["step"][result["step_id"]]
        texts.extend(step.get(part, "") for part in ("title", "description"))
        for option in result.get("menu_options") or ():
            assert option in step["menu_options"]
    if result["type"] is FlowResultType.FORM:
        fields = [str(key) for key in result["data_schema"].schema]
        assert sorted(fields) == sorted(step["data"]) == sorted(step["data_description"])
        for error in (result["errors"] or {}).values():
            assert error in strings["error"]
    placeholders = result.get("description_placeholders") or {}
    for text in texts:
        assert set(re.findall(r"\{(\w+)\}", text)) <= set(placeholders)
    return result


def probed(probe: AsyncMock) -> tuple[SatelliteAddress, bytes, str]:
    """The address, key and client name of the last probe."""
    assert probe.await_args is not None
    _session, address, key, client_name = probe.await_args.args
    return address, key, client_name


def suggested(result: Mapping[str, Any]) -> dict[str, Any]:
    """What a form shows prefilled."""
    return {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description and "suggested_value" in key.description
    }


@pytest.fixture
def setup_entry() -> Generator[AsyncMock]:
    with patch(
        "custom_components.maze_manager.async_setup_entry", return_value=True
    ) as setup_entry:
        yield setup_entry


@pytest.fixture
def probe() -> Generator[AsyncMock]:
    with patch(
        "custom_components.maze_manager.config_flow.async_probe", return_value=CELLAR
    ) as probe:
        yield probe


@pytest.fixture
def reload(hass: HomeAssistant) -> Generator[MagicMock]:
    with patch.object(hass.config_entries, "async_schedule_reload") as reload:
        yield reload


class LoadedSatellite:
    """A loaded satellite entry's runtime, as far as the flows use it: its link's retries."""

    def __init__(self) -> None:
        self.link = self
        self.retries = 0

    def retry_now(self) -> None:
        self.retries += 1

    async def async_stop(self) -> None:
        """Nothing to stop: no link was ever started."""


def add_satellite(hass: HomeAssistant, **data: Any) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Cellar",
        unique_id="sat-cellar",
        data=satellite_data(**data),
        state=ConfigEntryState.LOADED,
    )
    entry.runtime_data = LoadedSatellite()
    entry.add_to_hass(hass)
    return entry


def add_venue(hass: HomeAssistant) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Venue",
        unique_id=DOMAIN,
        data={CONF_KIND: KIND_VENUE},
        options={CONF_SHOW_FOLDER: "maze_manager", CONF_LEAD_MS: 0, CONF_DEFAULT_VOLUME: 0.7},
    )
    entry.add_to_hass(hass)
    return entry


async def start_user_flow(hass: HomeAssistant, choice: str) -> Mapping[str, Any]:
    menu = checked(await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"}))
    assert menu["type"] is FlowResultType.MENU
    return checked(
        await hass.config_entries.flow.async_configure(menu["flow_id"], {"next_step_id": choice})
    )


async def submit(
    hass: HomeAssistant, result: Mapping[str, Any], user_input: dict[str, Any]
) -> Mapping[str, Any]:
    return checked(await hass.config_entries.flow.async_configure(result["flow_id"], user_input))


def by_hand(host: str = "192.168.1.20", key: str = KEY_TYPED, **extra: Any) -> dict[str, Any]:
    return {CONF_HOST: host, CONF_PORT: DEFAULT_PORT, CONF_PAIRING_KEY: key, **extra}


# --- the menu and the venue ------------------------------------------------------------


async def test_user_step_offers_the_venue_and_a_satellite(hass: HomeAssistant) -> None:
    result = checked(
        await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    )

    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "user"
    assert list(result["menu_options"]) == ["venue", "satellite"]


async def test_venue_is_created_with_default_options(
    hass: HomeAssistant, setup_entry: AsyncMock
) -> None:
    form = await start_user_flow(hass, "venue")
    assert form["type"] is FlowResultType.FORM
    assert form["step_id"] == "venue"

    result = await submit(hass, form, {CONF_SHOW_FOLDER: "  /media/shows/halloween "})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Venue"
    assert result["data"] == {CONF_KIND: KIND_VENUE}
    assert result["options"] == {
        CONF_SHOW_FOLDER: "/media/shows/halloween",
        CONF_LEAD_MS: 0,
        CONF_DEFAULT_VOLUME: 0.7,
    }
    assert result["result"].unique_id == DOMAIN
    await hass.async_block_till_done()
    assert setup_entry.await_count == 1


@pytest.mark.usefixtures("setup_entry")
async def test_venue_needs_a_show_folder(hass: HomeAssistant) -> None:
    form = await start_user_flow(hass, "venue")

    result = await submit(hass, form, {CONF_SHOW_FOLDER: "   "})

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_SHOW_FOLDER: "empty_folder"}
    result = await submit(hass, result, {CONF_SHOW_FOLDER: "maze_manager"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"][CONF_SHOW_FOLDER] == "maze_manager"


async def test_second_venue_is_refused(hass: HomeAssistant) -> None:
    add_venue(hass)

    result = await start_user_flow(hass, "venue")

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "single_instance_allowed"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


# --- a satellite by hand ----------------------------------------------------------------


async def test_satellite_by_hand_is_probed_then_created(
    hass: HomeAssistant, setup_entry: AsyncMock, probe: AsyncMock
) -> None:
    form = await start_user_flow(hass, "satellite")
    assert form["type"] is FlowResultType.FORM
    assert form["step_id"] == "satellite"

    result = await submit(
        hass, form, by_hand(host=" 192.168.1.20 ", **{CONF_FINGERPRINT: FINGERPRINT_TYPED})
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Cellar"
    assert result["data"] == satellite_data(fingerprint=FINGERPRINT)
    assert result["result"].unique_id == "sat-cellar"
    assert probed(probe) == (
        SatelliteAddress("192.168.1.20", DEFAULT_PORT, FINGERPRINT),
        KEY,
        "Home Assistant",
    )
    await hass.async_block_till_done()
    assert setup_entry.await_count == 1


@pytest.mark.usefixtures("setup_entry")
async def test_satellite_without_a_name_is_titled_by_its_id(
    hass: HomeAssistant, probe: AsyncMock
) -> None:
    probe.return_value = link.Hello("sat-unnamed", "", "0.1.0", 48000, (), (), ())
    form = await start_user_flow(hass, "satellite")

    result = await submit(hass, form, by_hand())

    assert result["title"] == "sat-unnamed"
    assert result["data"] == satellite_data(satellite_id="sat-unnamed")


@pytest.mark.parametrize(("failure", "error"), PROBE_FAILURES)
@pytest.mark.usefixtures("setup_entry")
async def test_satellite_by_hand_shows_probe_failures(
    hass: HomeAssistant,
    probe: AsyncMock,
    caplog: pytest.LogCaptureFixture,
    failure: Exception,
    error: str,
) -> None:
    probe.side_effect = failure
    form = await start_user_flow(hass, "satellite")

    with caplog.at_level(logging.ERROR):
        result = await submit(hass, form, by_hand())

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    assert suggested(result)[CONF_HOST] == "192.168.1.20"
    assert ("Unexpected error" in caplog.text) == (error == "unknown")
    probe.side_effect = None
    result = await submit(hass, result, by_hand())
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == satellite_data()


@pytest.mark.parametrize(
    ("user_input", "field", "error"),
    [
        (by_hand(key="0123 not a key"), CONF_PAIRING_KEY, "invalid_key"),
        (by_hand(key=KEY.hex()[:-2]), CONF_PAIRING_KEY, "invalid_key"),
        (by_hand(**{CONF_FINGERPRINT: "ab:cd"}), CONF_FINGERPRINT, "invalid_fingerprint"),
        (by_hand(**{CONF_FINGERPRINT: "zz" * 32}), CONF_FINGERPRINT, "invalid_fingerprint"),
    ],
)
async def test_satellite_by_hand_rejects_bad_text_without_probing(
    hass: HomeAssistant,
    probe: AsyncMock,
    user_input: dict[str, Any],
    field: str,
    error: str,
) -> None:
    form = await start_user_flow(hass, "satellite")

    result = await submit(hass, form, user_input)

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: error}
    assert probe.await_count == 0


async def test_satellite_by_hand_already_configured_gets_the_new_address(
    hass: HomeAssistant, probe: AsyncMock, reload: MagicMock
) -> None:
    entry = add_satellite(hass, host="10.0.0.5", port=9000)
    form = await start_user_flow(hass, "satellite")

    result = await submit(hass, form, by_hand(key=NEW_KEY.hex(), **{CONF_FINGERPRINT: FINGERPRINT}))

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data == satellite_data(fingerprint=FINGERPRINT)
    reload.assert_called_once_with(entry.entry_id)
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


# --- a satellite found by zeroconf ------------------------------------------------------


async def test_discovered_satellite_asks_for_the_key_then_is_created(
    hass: HomeAssistant, setup_entry: AsyncMock, probe: AsyncMock
) -> None:
    form = checked(
        await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_ZEROCONF}, data=discovery(fp=FINGERPRINT_TYPED)
        )
    )

    assert form["type"] is FlowResultType.FORM
    assert form["step_id"] == "zeroconf_confirm"
    assert form["description_placeholders"] == {"name": "Cellar", "host": "192.168.1.30"}
    (progress,) = hass.config_entries.flow.async_progress()
    assert progress["context"]["title_placeholders"] == {"name": "Cellar"}
    assert progress["context"]["unique_id"] == "sat-cellar"

    result = await submit(hass, form, {CONF_PAIRING_KEY: KEY_TYPED})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Cellar"
    assert result["data"] == satellite_data(host="192.168.1.30", port=8766, fingerprint=FINGERPRINT)
    assert result["result"].unique_id == "sat-cellar"
    assert probed(probe)[:2] == (SatelliteAddress("192.168.1.30", 8766, FINGERPRINT), KEY)


@pytest.mark.parametrize(
    ("addresses", "host"),
    [
        (("fe80::1", "192.168.1.31"), "192.168.1.31"),
        (("2001:db8::7", "192.168.1.32"), "192.168.1.32"),
        (("fe80::1", "2001:db8::7"), "2001:db8::7"),
    ],
)
async def test_discovery_prefers_ipv4_and_skips_link_local_ipv6(
    hass: HomeAssistant, addresses: tuple[str, ...], host: str
) -> None:
    result = checked(
        await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_ZEROCONF}, data=discovery(*addresses)
        )
    )

    assert result["type"] is FlowResultType.FORM
    assert result["description_placeholders"]["host"] == host


async def test_discovery_with_only_link_local_ipv6_is_dropped(hass: HomeAssistant) -> None:
    result = checked(
        await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_ZEROCONF}, data=discovery("fe80::1", "fe80::2")
        )
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "link_local_address"


async def test_known_satellite_at_a_new_address_updates_and_reloads(
    hass: HomeAssistant, reload: MagicMock
) -> None:
    entry = add_satellite(hass, host="192.168.1.20")

    result = checked(
        await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_ZEROCONF}, data=discovery(fp=FINGERPRINT)
        )
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data == satellite_data(host="192.168.1.30", port=8766, fingerprint=FINGERPRINT)
    reload.assert_called_once_with(entry.entry_id)
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_known_satellite_at_the_same_address_is_left_alone(
    hass: HomeAssistant, reload: MagicMock
) -> None:
    entry = add_satellite(hass, host="192.168.1.30", port=8766)

    result = checked(
        await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_ZEROCONF}, data=discovery()
        )
    )

    assert result["reason"] == "already_configured"
    assert entry.data == satellite_data(host="192.168.1.30", port=8766)
    reload.assert_not_called()
    assert entry.runtime_data.retries == 1  # seen again: its link skips the backoff


@pytest.mark.parametrize(
    "info",
    [
        discovery(id=""),
        discovery(port=None),
        discovery(fp="not-a-fingerprint"),
    ],
)
async def test_discovery_without_usable_identity_is_dropped(
    hass: HomeAssistant, info: ZeroconfServiceInfo
) -> None:
    result = checked(
        await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_ZEROCONF}, data=info
        )
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "invalid_discovery_info"


@pytest.mark.parametrize(("proto", "shown"), [("2", "2"), ("", "None")])
async def test_discovery_of_another_protocol_version_is_dropped(
    hass: HomeAssistant, proto: str, shown: str
) -> None:
    result = checked(
        await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_ZEROCONF}, data=discovery(proto=proto)
        )
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "unsupported_version"
    assert result["description_placeholders"] == {"proto": shown, "supported": "1"}


async def test_second_discovery_of_the_same_satellite_is_dropped(hass: HomeAssistant) -> None:
    first = checked(
        await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_ZEROCONF}, data=discovery()
        )
    )
    second = checked(
        await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_ZEROCONF}, data=discovery("192.168.1.99")
        )
    )

    assert first["type"] is FlowResultType.FORM
    assert second["type"] is FlowResultType.ABORT
    assert second["reason"] == "already_in_progress"


@pytest.mark.parametrize(
    ("failure", "key", "errors"),
    [
        *((failure, KEY_TYPED, {"base": error}) for failure, error in PROBE_FAILURES),
        (None, "12345", {CONF_PAIRING_KEY: "invalid_key"}),
    ],
)
@pytest.mark.usefixtures("setup_entry")
async def test_discovered_satellite_confirm_shows_errors(
    hass: HomeAssistant,
    probe: AsyncMock,
    failure: Exception | None,
    key: str,
    errors: dict[str, str],
) -> None:
    probe.side_effect = failure
    form = checked(
        await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_ZEROCONF}, data=discovery()
        )
    )

    result = await submit(hass, form, {CONF_PAIRING_KEY: key})

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "zeroconf_confirm"
    assert result["errors"] == errors
    probe.side_effect = None
    result = await submit(hass, result, {CONF_PAIRING_KEY: KEY_TYPED})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == satellite_data(host="192.168.1.30", port=8766)


# --- reauthentication ------------------------------------------------------------------


async def test_reauth_stores_the_new_key_and_reloads(
    hass: HomeAssistant, probe: AsyncMock, reload: MagicMock
) -> None:
    entry = add_satellite(hass, fingerprint=FINGERPRINT)

    form = checked(await entry.start_reauth_flow(hass))
    assert form["type"] is FlowResultType.FORM
    assert form["step_id"] == "reauth_confirm"
    assert form["description_placeholders"] == {"name": "Cellar", "host": "192.168.1.20"}

    result = await submit(hass, form, {CONF_PAIRING_KEY: link.format_pairing_key(NEW_KEY)})

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data == satellite_data(key=NEW_KEY, fingerprint=FINGERPRINT)
    assert probed(probe)[:2] == (
        SatelliteAddress("192.168.1.20", DEFAULT_PORT, FINGERPRINT),
        NEW_KEY,
    )
    reload.assert_called_once_with(entry.entry_id)


@pytest.mark.parametrize(
    ("failure", "key", "errors"),
    [
        *((failure, NEW_KEY.hex(), {"base": error}) for failure, error in PROBE_FAILURES),
        (None, "not hex at all", {CONF_PAIRING_KEY: "invalid_key"}),
    ],
)
async def test_reauth_shows_errors_and_keeps_the_old_key(
    hass: HomeAssistant,
    probe: AsyncMock,
    failure: Exception | None,
    key: str,
    errors: dict[str, str],
) -> None:
    probe.side_effect = failure
    entry = add_satellite(hass)
    form = checked(await entry.start_reauth_flow(hass))

    result = await submit(hass, form, {CONF_PAIRING_KEY: key})

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert entry.data == satellite_data()


async def test_reauth_answered_by_another_satellite_is_refused(
    hass: HomeAssistant, probe: AsyncMock, reload: MagicMock
) -> None:
    probe.return_value = ATTIC
    entry = add_satellite(hass)
    form = checked(await entry.start_reauth_flow(hass))

    result = await submit(hass, form, {CONF_PAIRING_KEY: NEW_KEY.hex()})

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "unique_id_mismatch"
    assert entry.data == satellite_data()
    reload.assert_not_called()


# --- reconfiguration -------------------------------------------------------------------


async def test_reconfigure_is_prefilled_and_keeps_the_key_when_left_blank(
    hass: HomeAssistant, probe: AsyncMock, reload: MagicMock
) -> None:
    entry = add_satellite(hass)

    form = checked(await entry.start_reconfigure_flow(hass))
    assert form["type"] is FlowResultType.FORM
    assert form["step_id"] == "reconfigure"
    assert suggested(form) == {CONF_HOST: "192.168.1.20", CONF_PORT: DEFAULT_PORT}

    result = await submit(
        hass,
        form,
        {
            CONF_HOST: "cellar-pi.local",
            CONF_PORT: 9100,
            CONF_PAIRING_KEY: "  ",
            CONF_FINGERPRINT: FINGERPRINT_TYPED,
        },
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == satellite_data(host="cellar-pi.local", port=9100, fingerprint=FINGERPRINT)
    assert probed(probe)[:2] == (
        SatelliteAddress("cellar-pi.local", 9100, FINGERPRINT),
        KEY,
    )
    reload.assert_called_once_with(entry.entry_id)


async def test_reconfigure_replaces_the_key_and_drops_tls(
    hass: HomeAssistant, probe: AsyncMock, reload: MagicMock
) -> None:
    entry = add_satellite(hass, fingerprint=FINGERPRINT)
    form = checked(await entry.start_reconfigure_flow(hass))
    assert suggested(form)[CONF_FINGERPRINT] == FINGERPRINT

    result = await submit(
        hass, form, {CONF_HOST: "192.168.1.20", CONF_PORT: 8765, CONF_PAIRING_KEY: NEW_KEY.hex()}
    )

    assert result["reason"] == "reconfigure_successful"
    assert entry.data == satellite_data(key=NEW_KEY)
    assert probed(probe)[1] == NEW_KEY


async def test_reconfigure_answered_by_another_satellite_is_refused(
    hass: HomeAssistant, probe: AsyncMock, reload: MagicMock
) -> None:
    probe.return_value = ATTIC
    entry = add_satellite(hass)
    form = checked(await entry.start_reconfigure_flow(hass))

    result = await submit(hass, form, by_hand(host="192.168.1.40"))

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "unique_id_mismatch"
    assert entry.data == satellite_data()
    assert entry.unique_id == "sat-cellar"
    reload.assert_not_called()


@pytest.mark.parametrize(
    ("failure", "user_input", "errors"),
    [
        *((failure, by_hand(), {"base": error}) for failure, error in PROBE_FAILURES),
        (None, by_hand(key="g" * 64), {CONF_PAIRING_KEY: "invalid_key"}),
        (None, by_hand(**{CONF_FINGERPRINT: "12"}), {CONF_FINGERPRINT: "invalid_fingerprint"}),
    ],
)
async def test_reconfigure_shows_errors_and_changes_nothing(
    hass: HomeAssistant,
    probe: AsyncMock,
    failure: Exception | None,
    user_input: dict[str, Any],
    errors: dict[str, str],
) -> None:
    probe.side_effect = failure
    entry = add_satellite(hass, host="192.168.1.10")
    form = checked(await entry.start_reconfigure_flow(hass))

    result = await submit(hass, form, user_input)

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert suggested(result)[CONF_HOST] == "192.168.1.20"
    assert entry.data == satellite_data(host="192.168.1.10")


async def test_venue_has_nothing_to_reconfigure(hass: HomeAssistant) -> None:
    entry = add_venue(hass)

    result = checked(await entry.start_reconfigure_flow(hass))

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "venue_not_reconfigurable"


# --- venue options ---------------------------------------------------------------------


async def test_only_the_venue_has_options(hass: HomeAssistant) -> None:
    venue = add_venue(hass)
    satellite = add_satellite(hass)

    assert venue.supports_options
    assert not satellite.supports_options


async def test_venue_options_are_prefilled_and_saved(hass: HomeAssistant) -> None:
    entry = add_venue(hass)

    form = checked(await hass.config_entries.options.async_init(entry.entry_id), "options")
    assert form["type"] is FlowResultType.FORM
    assert form["step_id"] == "init"
    assert suggested(form) == {
        CONF_SHOW_FOLDER: "maze_manager",
        CONF_LEAD_MS: 0,
        CONF_DEFAULT_VOLUME: 0.7,
    }

    result = checked(
        await hass.config_entries.options.async_configure(
            form["flow_id"],
            {CONF_SHOW_FOLDER: " shows ", CONF_LEAD_MS: 120, CONF_DEFAULT_VOLUME: 0.45},
        ),
        "options",
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_SHOW_FOLDER: "shows",
        CONF_LEAD_MS: 120,
        CONF_DEFAULT_VOLUME: 0.45,
    }
    assert type(entry.options[CONF_LEAD_MS]) is int


async def test_venue_options_need_a_show_folder(hass: HomeAssistant) -> None:
    entry = add_venue(hass)
    form = await hass.config_entries.options.async_init(entry.entry_id)

    result = checked(
        await hass.config_entries.options.async_configure(
            form["flow_id"], {CONF_SHOW_FOLDER: "", CONF_LEAD_MS: 0, CONF_DEFAULT_VOLUME: 0.7}
        ),
        "options",
    )

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_SHOW_FOLDER: "empty_folder"}
    assert entry.options[CONF_SHOW_FOLDER] == "maze_manager"


@pytest.mark.parametrize(
    "user_input",
    [
        {CONF_SHOW_FOLDER: "shows", CONF_LEAD_MS: 2001, CONF_DEFAULT_VOLUME: 0.7},
        {CONF_SHOW_FOLDER: "shows", CONF_LEAD_MS: -1, CONF_DEFAULT_VOLUME: 0.7},
        {CONF_SHOW_FOLDER: "shows", CONF_LEAD_MS: 0, CONF_DEFAULT_VOLUME: 1.5},
    ],
)
async def test_venue_options_out_of_range_are_refused(
    hass: HomeAssistant, user_input: dict[str, Any]
) -> None:
    entry = add_venue(hass)
    form = await hass.config_entries.options.async_init(entry.entry_id)

    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(form["flow_id"], user_input)
    assert entry.options[CONF_LEAD_MS] == 0


# --- texts -----------------------------------------------------------------------------


def test_english_translation_matches_strings() -> None:
    english = json.loads((COMPONENT / "translations" / "en.json").read_text())

    for section in ("config", "options"):
        assert english[section] == STRINGS[section]
