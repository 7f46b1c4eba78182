"""Accounts: users, their roles and districts, sign-in and bearer tokens."""
