"""Constants shared across the integration."""

from typing import Final

DOMAIN: Final = "maze_manager"
ZEROCONF_TYPE: Final = "_maze-satellite._tcp.local."

# Config entries: one venue entry, and one entry per satellite.
CONF_KIND: Final = "kind"
KIND_VENUE: Final = "venue"
KIND_SATELLITE: Final = "satellite"

# Satellite entry data.
CONF_SATELLITE_ID: Final = "satellite_id"
CONF_PAIRING_KEY: Final = "pairing_key"
CONF_FINGERPRINT: Final = "fingerprint"
DEFAULT_PORT: Final = 8765
CONF_OUTPUTS: Final = "outputs"
CONF_INPUTS: Final = "inputs"

# Venue entry options.
CONF_SHOW_FOLDER: Final = "show_folder"
CONF_LEAD_MS: Final = "lead_ms"
CONF_DEFAULT_VOLUME: Final = "default_volume"
DEFAULT_SHOW_FOLDER: Final = "maze_manager"
DEFAULT_LEAD_MS: Final = 0
"""0 means automatic: the lead follows the slowest target satellite's measured delay."""
DEFAULT_VOLUME: Final = 0.7

# Zeroconf TXT records a satellite advertises.
TXT_ID: Final = "id"
TXT_NAME: Final = "name"
TXT_PROTO: Final = "proto"
TXT_VERSION: Final = "version"
TXT_FINGERPRINT: Final = "fp"
