"""The WeChat client, and nothing else: HTTP (http.py), access tokens (tokens.py), the API calls (api.py), named
errcodes (errors.py), the callback's signatures and encryption (crypto.py) and the mini program's (wxa_crypto.py),
delivery XML in (messages.py) and the passive replies out (replies.py).

No Flask, and nothing from the domain packages, handlers, callback or sandbox: they use this package, never the
reverse (tests/test_layout.py checks it). Receiving WeChat's deliveries is wxbot.callback; the sandbox WeChat is
wxbot.sandbox."""
