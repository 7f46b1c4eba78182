"""What the screens show, worked out from plain data (no Kivy)."""
