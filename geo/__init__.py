"""Geography: districts, locating points, and (later) geocoding and duplicate detection."""
