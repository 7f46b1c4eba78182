"""Notifications: transactional outbox, citizen SMS and inspector push (issue 12)."""
