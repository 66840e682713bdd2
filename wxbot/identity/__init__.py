"""One person, many WeChat faces: identities, followers, unionids, binding, logins, accounts."""
