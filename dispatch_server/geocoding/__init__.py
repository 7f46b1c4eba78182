"""Geocoding over HTTP: address text to places, and a point to its address."""
