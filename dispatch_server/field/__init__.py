"""The field API: what the inspectors' app calls (duty, positions, queue, their moves)."""
