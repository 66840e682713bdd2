"""留言: conversations between a person and the customer-service agents."""
