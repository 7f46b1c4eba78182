"""Live updates: the server-sent-event streams of the consoles and the field app."""
