"""The inspectors' Kivy field app, offline-first (issue 7). Imports nothing from the server."""
