"""The outbox: what domain code enqueues for a person, and how the sender gets it to WeChat."""
