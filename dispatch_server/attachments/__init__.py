"""Attachments of a case: photos from the field, checked, described and stored."""
