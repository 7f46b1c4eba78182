"""What anyone may see of a case by its ticket number: the citizen's tracking page."""
