"""Password hashes (the console agents'): scrypt, in werkzeug's format `scrypt:n:r:p$salt$hash` as stored.

The hashing comes from werkzeug.security; it is kept behind this module so that the domain packages do not
import the web stack (tests/test_layout.py).
"""

from __future__ import annotations

from werkzeug.security import check_password_hash, generate_password_hash


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def password_matches(password_hash: str, password: str) -> bool:
    return check_password_hash(password_hash, password)
