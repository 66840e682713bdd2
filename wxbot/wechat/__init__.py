"""Everything that talks to WeChat lives in this package: API clients and the token store (api.py, tokens.py),
the callback gateway (gateway.py, crypto.py, messages.py), and the sandbox WeChat (sandbox/)."""
