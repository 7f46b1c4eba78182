"""Dasan Field dispatch server: intake, dispatch, field and public APIs, consoles and CLI."""
