"""Service errors about the show that several modules raise, translated for the caller."""

from __future__ import annotations

from homeassistant.exceptions import ServiceValidationError

from .const import DOMAIN


def unknown_item(kind: str, name: str) -> ServiceValidationError:
    """The error for a show item (effect, theme, room) that does not exist."""
    return ServiceValidationError(
        f"Unknown {kind} {name}",
        translation_domain=DOMAIN,
        translation_key=f"unknown_{kind}",
        translation_placeholders={kind: name},
    )


def no_show() -> ServiceValidationError:
    """The error for a call that needs a show while none is loaded."""
    return ServiceValidationError(
        "No show is loaded; fix the show files and reload",
        translation_domain=DOMAIN,
        translation_key="no_show",
    )
