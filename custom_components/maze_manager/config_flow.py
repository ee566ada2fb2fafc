"""Config flows: set up the venue, and add satellites found by zeroconf or by address.

A satellite entry is created only after a probe has connected to the satellite and both
sides have proved they hold the same pairing key, so a mistyped key or address shows up
on the form rather than later as a satellite that never connects. The satellite's own id
is the entry's unique id: zeroconf finding a known satellite at a new address updates
that entry instead of offering a duplicate.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Mapping
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import callback
from homeassistant.data_entry_flow import AbortFlow
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo

from .const import (
    CONF_DEFAULT_VOLUME,
    CONF_FINGERPRINT,
    CONF_KIND,
    CONF_LEAD_MS,
    CONF_PAIRING_KEY,
    CONF_SATELLITE_ID,
    CONF_SHOW_FOLDER,
    DEFAULT_LEAD_MS,
    DEFAULT_PORT,
    DEFAULT_SHOW_FOLDER,
    DEFAULT_VOLUME,
    DOMAIN,
    KIND_SATELLITE,
    KIND_VENUE,
    TXT_FINGERPRINT,
    TXT_ID,
    TXT_NAME,
    TXT_PROTO,
)
from .link import PROTOCOL_VERSION, Hello, parse_pairing_key
from .link.client import (
    SatelliteAddress,
    SatelliteAuthFailed,
    SatelliteUnreachable,
    async_probe,
)
from .satellites import SatelliteDevice, address_from_entry

_LOGGER = logging.getLogger(__name__)

CLIENT_NAME = "Home Assistant"
"""How Home Assistant introduces itself to a satellite during the handshake."""
VENUE_TITLE = "Venue"
MAX_LEAD_MS = 2000
FINGERPRINT_HEX_DIGITS = 64
"""A pinned certificate is named by its SHA-256 digest."""

_TEXT = TextSelector()
_SECRET = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
_PORT = vol.All(
    NumberSelector(NumberSelectorConfig(min=1, max=65535, mode=NumberSelectorMode.BOX)),
    vol.Coerce(int),
)
_LEAD = vol.All(
    NumberSelector(
        NumberSelectorConfig(
            min=0, max=MAX_LEAD_MS, step=1, unit_of_measurement="ms", mode=NumberSelectorMode.BOX
        )
    ),
    vol.Coerce(int),
)
_VOLUME = NumberSelector(
    NumberSelectorConfig(min=0, max=1, step=0.05, mode=NumberSelectorMode.SLIDER)
)

VENUE_SCHEMA = vol.Schema({vol.Required(CONF_SHOW_FOLDER, default=DEFAULT_SHOW_FOLDER): _TEXT})
SATELLITE_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_HOST): _TEXT,
        vol.Required(CONF_PORT, default=DEFAULT_PORT): _PORT,
        vol.Required(CONF_PAIRING_KEY): _SECRET,
        vol.Optional(CONF_FINGERPRINT): _TEXT,
    }
)
RECONFIGURE_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_HOST): _TEXT,
        vol.Required(CONF_PORT): _PORT,
        vol.Optional(CONF_PAIRING_KEY): _SECRET,
        vol.Optional(CONF_FINGERPRINT): _TEXT,
    }
)
KEY_SCHEMA = vol.Schema({vol.Required(CONF_PAIRING_KEY): _SECRET})
OPTIONS_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_SHOW_FOLDER): _TEXT,
        vol.Required(CONF_LEAD_MS): _LEAD,
        vol.Required(CONF_DEFAULT_VOLUME): _VOLUME,
    }
)


class _StepError(Exception):
    """Input a step cannot use; the form shows `code` next to `field`."""

    def __init__(self, field: str, code: str) -> None:
        super().__init__(code)
        self.errors = {field: code}


def _read_key(text: str) -> bytes:
    """The pairing key as typed or pasted on the form."""
    try:
        return parse_pairing_key(text)
    except ValueError as err:
        raise _StepError(CONF_PAIRING_KEY, "invalid_key") from err


def _read_replacement_key(text: str | None, current_hex: str) -> bytes:
    """A newly typed key, or the current one when the field was left blank."""
    if text is None or not text.strip():
        return bytes.fromhex(current_hex)
    return _read_key(text)


def _read_fingerprint(text: str | None) -> str | None:
    """A certificate fingerprint as lowercase hex digits; None (blank) means plain WebSocket."""
    digits = "".join(ch for ch in (text or "").lower() if ch not in " :-\t")
    if not digits:
        return None
    if len(digits) != FINGERPRINT_HEX_DIGITS or any(ch not in string.hexdigits for ch in digits):
        raise _StepError(CONF_FINGERPRINT, "invalid_fingerprint")
    return digits


def _read_address(user_input: Mapping[str, Any]) -> SatelliteAddress:
    """Where the form says the satellite listens."""
    return SatelliteAddress(
        user_input[CONF_HOST].strip(),
        user_input[CONF_PORT],
        _read_fingerprint(user_input.get(CONF_FINGERPRINT)),
    )


def _read_show_folder(text: str) -> str:
    """The show folder: relative to the configuration folder, or absolute."""
    folder = text.strip()
    if not folder:
        raise _StepError(CONF_SHOW_FOLDER, "empty_folder")
    return folder


def _address_data(address: SatelliteAddress) -> dict[str, Any]:
    """The entry data that follows the satellite when it moves."""
    return {
        CONF_HOST: address.host,
        CONF_PORT: address.port,
        CONF_FINGERPRINT: address.fingerprint,
    }


def _satellite_data(address: SatelliteAddress, key: bytes, satellite_id: str) -> dict[str, Any]:
    """A satellite entry's data; the key is stored as 64 lowercase hex digits."""
    return {
        CONF_KIND: KIND_SATELLITE,
        **_address_data(address),
        CONF_PAIRING_KEY: key.hex(),
        CONF_SATELLITE_ID: satellite_id,
    }


def _discovered_host(discovery_info: ZeroconfServiceInfo) -> str:
    """The address to dial: IPv4 first, then routable IPv6.

    A link-local IPv6 address is useless without the interface it belongs to, which a
    URL cannot carry reliably, so it is never chosen.
    """
    candidates = (discovery_info.ip_address, *discovery_info.ip_addresses)
    usable = [
        ip
        for ip in candidates
        if not ip.is_unspecified and not (ip.version == 6 and ip.is_link_local)
    ]
    if not usable:
        raise AbortFlow("link_local_address")
    usable.sort(key=lambda ip: ip.version)
    return str(usable[0])


def _discovered_satellite(discovery_info: ZeroconfServiceInfo) -> tuple[str, SatelliteAddress]:
    """The satellite id and address a zeroconf announcement gives, or abort."""
    txt = discovery_info.properties
    satellite_id = txt.get(TXT_ID)
    if not satellite_id or discovery_info.port is None:
        raise AbortFlow("invalid_discovery_info")
    proto = txt.get(TXT_PROTO)
    if proto != str(PROTOCOL_VERSION):
        raise AbortFlow(
            "unsupported_version",
            {"proto": str(proto), "supported": str(PROTOCOL_VERSION)},
        )
    try:
        fingerprint = _read_fingerprint(txt.get(TXT_FINGERPRINT))
    except _StepError as err:
        raise AbortFlow("invalid_discovery_info") from err
    host = _discovered_host(discovery_info)
    return str(satellite_id), SatelliteAddress(host, discovery_info.port, fingerprint)


class MazeManagerConfigFlow(ConfigFlow, domain=DOMAIN):
    """Creates the venue entry and one entry per satellite."""

    VERSION = 1

    _discovered: SatelliteAddress
    _discovered_name: str

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """The venue's options; satellites have none."""
        return VenueOptionsFlow()

    @classmethod
    @callback
    def async_supports_options_flow(cls, config_entry: ConfigEntry) -> bool:
        """Only the venue entry has options."""
        return bool(config_entry.data.get(CONF_KIND) == KIND_VENUE)

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask whether to set up the venue or add a satellite."""
        return self.async_show_menu(step_id="user", menu_options=["venue", "satellite"])

    async def async_step_venue(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Create the one venue entry."""
        await self.async_set_unique_id(DOMAIN)
        self._abort_if_unique_id_configured(error="single_instance_allowed")
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                folder = _read_show_folder(user_input[CONF_SHOW_FOLDER])
            except _StepError as err:
                errors = err.errors
            else:
                return self.async_create_entry(
                    title=VENUE_TITLE,
                    data={CONF_KIND: KIND_VENUE},
                    options={
                        CONF_SHOW_FOLDER: folder,
                        CONF_LEAD_MS: DEFAULT_LEAD_MS,
                        CONF_DEFAULT_VOLUME: DEFAULT_VOLUME,
                    },
                )
        return self.async_show_form(
            step_id="venue",
            data_schema=self.add_suggested_values_to_schema(VENUE_SCHEMA, user_input),
            errors=errors,
        )

    async def async_step_satellite(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add a satellite by host, port and pairing key."""
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                address = _read_address(user_input)
                key = _read_key(user_input[CONF_PAIRING_KEY])
                hello = await self._async_probe(address, key)
            except _StepError as err:
                errors = err.errors
            else:
                return await self._async_create_satellite(address, key, hello)
        return self.async_show_form(
            step_id="satellite",
            data_schema=self.add_suggested_values_to_schema(SATELLITE_SCHEMA, user_input),
            errors=errors,
        )

    async def async_step_zeroconf(self, discovery_info: ZeroconfServiceInfo) -> ConfigFlowResult:
        """A satellite announced itself; a known one at a new address is updated."""
        satellite_id, address = _discovered_satellite(discovery_info)
        await self.async_set_unique_id(satellite_id)
        self._retry_known_satellite(satellite_id)
        self._abort_if_unique_id_configured(updates=_address_data(address), reload_on_update=True)
        self._discovered = address
        self._discovered_name = str(discovery_info.properties.get(TXT_NAME) or satellite_id)
        self.context["title_placeholders"] = {"name": self._discovered_name}
        return await self.async_step_zeroconf_confirm()

    async def async_step_zeroconf_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the discovered satellite's pairing key."""
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                key = _read_key(user_input[CONF_PAIRING_KEY])
                hello = await self._async_probe(self._discovered, key)
            except _StepError as err:
                errors = err.errors
            else:
                return await self._async_create_satellite(self._discovered, key, hello)
        return self.async_show_form(
            step_id="zeroconf_confirm",
            data_schema=KEY_SCHEMA,
            errors=errors,
            description_placeholders={
                "name": self._discovered_name,
                "host": self._discovered.host,
            },
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The satellite refused the stored key."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the satellite's current pairing key."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                key = _read_key(user_input[CONF_PAIRING_KEY])
                hello = await self._async_probe(address_from_entry(entry), key)
            except _StepError as err:
                errors = err.errors
            else:
                await self._async_require_same_satellite(hello)
                return self.async_update_reload_and_abort(
                    entry, data_updates={CONF_PAIRING_KEY: key.hex()}
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=KEY_SCHEMA,
            errors=errors,
            description_placeholders={"host": entry.data[CONF_HOST]},
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change a satellite's host, port, key or certificate fingerprint."""
        entry = self._get_reconfigure_entry()
        if entry.data[CONF_KIND] != KIND_SATELLITE:
            return self.async_abort(reason="venue_not_reconfigurable")
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                address = _read_address(user_input)
                key = _read_replacement_key(
                    user_input.get(CONF_PAIRING_KEY), entry.data[CONF_PAIRING_KEY]
                )
                hello = await self._async_probe(address, key)
            except _StepError as err:
                errors = err.errors
            else:
                await self._async_require_same_satellite(hello)
                return self.async_update_reload_and_abort(
                    entry, data_updates=_satellite_data(address, key, hello.satellite_id)
                )
        current = {
            k: v for k, v in _address_data(address_from_entry(entry)).items() if v is not None
        }
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                RECONFIGURE_SCHEMA, user_input or current
            ),
            errors=errors,
            description_placeholders={"name": entry.title},
        )

    async def _async_probe(self, address: SatelliteAddress, key: bytes) -> Hello:
        """Connect and authenticate once, turning failures into form errors."""
        session = async_get_clientsession(self.hass)
        try:
            return await async_probe(session, address, key, CLIENT_NAME)
        except SatelliteAuthFailed as err:
            raise _StepError("base", "invalid_auth") from err
        except SatelliteUnreachable as err:
            _LOGGER.debug("Satellite at %s cannot be reached: %s", address.url, err)
            raise _StepError("base", "cannot_connect") from err
        except Exception as err:
            _LOGGER.exception("Unexpected error while probing the satellite at %s", address.url)
            raise _StepError("base", "unknown") from err

    def _retry_known_satellite(self, satellite_id: str) -> None:
        """Zeroconf sees a known satellite again: let its link skip the backoff."""
        entry = self.hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, satellite_id)
        if entry is not None and entry.state is ConfigEntryState.LOADED:
            device: SatelliteDevice = entry.runtime_data
            device.link.retry_now()

    async def _async_create_satellite(
        self, address: SatelliteAddress, key: bytes, hello: Hello
    ) -> ConfigFlowResult:
        """Create the entry of the satellite that answered, unless it is already known."""
        await self.async_set_unique_id(hello.satellite_id, raise_on_progress=False)
        self._abort_if_unique_id_configured(updates=_address_data(address))
        return self.async_create_entry(
            title=hello.name or hello.satellite_id,
            data=_satellite_data(address, key, hello.satellite_id),
        )

    async def _async_require_same_satellite(self, hello: Hello) -> None:
        """Abort if another satellite than the entry's answered at that address."""
        await self.async_set_unique_id(hello.satellite_id, raise_on_progress=False)
        self._abort_if_unique_id_mismatch()


class VenueOptionsFlow(OptionsFlow):
    """The venue's show folder, lead time override and default volume."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Edit the venue's options."""
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                folder = _read_show_folder(user_input[CONF_SHOW_FOLDER])
            except _StepError as err:
                errors = err.errors
            else:
                return self.async_create_entry(
                    data={
                        CONF_SHOW_FOLDER: folder,
                        CONF_LEAD_MS: user_input[CONF_LEAD_MS],
                        CONF_DEFAULT_VOLUME: user_input[CONF_DEFAULT_VOLUME],
                    }
                )
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                OPTIONS_SCHEMA, user_input or self.config_entry.options
            ),
            errors=errors,
        )
