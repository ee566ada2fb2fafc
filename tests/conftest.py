"""Settings shared by every test folder."""

from hypothesis import settings

# Property tests check behaviour, not speed: a busy CI machine must not fail them for
# one slow example (benchmarks under bench/ measure speed).
settings.register_profile("maze", deadline=None)
settings.load_profile("maze")
