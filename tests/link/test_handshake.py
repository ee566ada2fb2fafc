"""The mutual HMAC handshake: right key, wrong key, replay, and pairing key text."""

from __future__ import annotations

import pytest

from pi_satellite import link

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def _over_the_wire(message: link.Message) -> link.Message:
    """Every handshake message really crosses the codec."""
    return link.decode(link.encode(message))


def _run(controller_key: bytes, satellite_key: bytes) -> tuple[link.Message, ...]:
    controller = link.ControllerHandshake(controller_key, "Home Assistant")
    satellite = link.SatelliteHandshake(satellite_key, "sat-gate")
    hello = _over_the_wire(controller.hello())
    challenge = _over_the_wire(satellite.challenge(hello))
    auth = _over_the_wire(controller.answer(challenge))
    satellite.verify(auth)
    assert controller.satellite_id == "sat-gate"
    return hello, challenge, auth


def test_the_same_key_on_both_sides_is_accepted() -> None:
    hello, challenge, auth = _run(KEY, KEY)
    assert KEY not in link.encode(hello) + link.encode(challenge) + link.encode(auth)


def test_a_satellite_with_another_key_is_rejected_by_home_assistant() -> None:
    with pytest.raises(link.AuthenticationError, match="satellite does not hold"):
        _run(KEY, OTHER_KEY)


def test_home_assistant_with_another_key_is_rejected_by_the_satellite() -> None:
    controller = link.ControllerHandshake(OTHER_KEY, "Home Assistant")
    satellite = link.SatelliteHandshake(KEY, "sat-gate")
    challenge = satellite.challenge(controller.hello())
    # A controller that skips checking the satellite and answers anyway still fails.
    forged = link.Auth(proof=link.ControllerHandshake(OTHER_KEY, "x").hello().nonce)
    with pytest.raises(link.AuthenticationError, match="controller does not hold"):
        satellite.verify(forged)
    with pytest.raises(link.AuthenticationError):
        controller.answer(challenge)


def test_a_replayed_controller_transcript_is_rejected() -> None:
    hello, _challenge, auth = _run(KEY, KEY)
    fresh_satellite = link.SatelliteHandshake(KEY, "sat-gate")
    fresh_satellite.challenge(hello)
    with pytest.raises(link.AuthenticationError):
        fresh_satellite.verify(auth)


def test_a_replayed_satellite_challenge_is_rejected() -> None:
    _hello, challenge, _auth = _run(KEY, KEY)
    fresh_controller = link.ControllerHandshake(KEY, "Home Assistant")
    fresh_controller.hello()
    with pytest.raises(link.AuthenticationError):
        fresh_controller.answer(challenge)


def test_a_challenge_for_another_satellite_id_is_rejected() -> None:
    controller = link.ControllerHandshake(KEY, "Home Assistant")
    satellite = link.SatelliteHandshake(KEY, "sat-gate")
    challenge = satellite.challenge(controller.hello())
    renamed = link.Challenge(challenge.proto, challenge.nonce, "sat-other", challenge.proof)
    with pytest.raises(link.AuthenticationError):
        controller.answer(renamed)


def test_another_protocol_major_is_refused_with_a_clear_reason() -> None:
    satellite = link.SatelliteHandshake(KEY, "sat-gate")
    with pytest.raises(link.UnsupportedVersion, match="controller speaks maze-link 2"):
        satellite.challenge(link.ClientHello(2, b"n" * 32, "Home Assistant"))


def test_auth_before_hello_and_a_second_hello_are_refused() -> None:
    satellite = link.SatelliteHandshake(KEY, "sat-gate")
    with pytest.raises(link.ProtocolError, match="auth came before hello"):
        satellite.verify(link.Auth(b"p" * 32))
    hello = link.ControllerHandshake(KEY, "Home Assistant").hello()
    satellite.challenge(hello)
    with pytest.raises(link.ProtocolError, match="one hello"):
        satellite.challenge(hello)


def test_pairing_key_text_round_trips_and_tolerates_typing() -> None:
    key = link.generate_pairing_key()
    text = link.format_pairing_key(key)
    assert len(text.split("-")) == 8
    assert link.parse_pairing_key(text) == key
    assert link.parse_pairing_key(" " + text.upper().replace("-", " ") + "\n") == key


@pytest.mark.parametrize("text", ["", "abc", "zz" * 32, "00" * 31, "00" * 33])
def test_a_bad_pairing_key_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="64 hexadecimal digits"):
        link.parse_pairing_key(text)


def test_a_key_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes, got 16"):
        link.SatelliteHandshake(b"k" * 16, "sat-gate")
