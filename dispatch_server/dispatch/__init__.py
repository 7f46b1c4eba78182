"""Dispatch: the case state machine, teams and inspectors, candidates and assignment."""
