"""The web consoles: the dispatchers' live map, the agents' intake, the supervisors'
statistics. Pages are shells (no data in them); their scripts call the API as the
signed-in console session."""
