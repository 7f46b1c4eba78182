"""A city's day, simulated end to end through the real server (`dasan simulate`)."""
