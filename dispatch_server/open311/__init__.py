"""Open311 GeoReport v2 for third-party citizen apps (issue 9); for now its client keys."""
