"""Plain data of the app (no Kivy, no I/O)."""
