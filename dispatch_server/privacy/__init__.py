"""Personal data: who reads a reporter's contact data in full (the access log), and its
erasure a set time after the case is done (the retention job)."""
