"""LoHP Maze Manager satellite: a room's sound player on a Raspberry Pi."""

__version__ = "0.1.0"
