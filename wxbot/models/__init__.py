"""The tables, one module per concern; importing this package registers all of them on Base.metadata."""

from wxbot.models.identity import Account, Identity

__all__ = ["Account", "Identity"]
