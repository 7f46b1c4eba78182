"""Complaints: intake, the case record and its timeline."""
