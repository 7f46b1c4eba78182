"""Services of the app: API client, store, outbox, sync, live, positions (no Kivy)."""
