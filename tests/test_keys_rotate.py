"""`wxbot keys rotate`: every encrypted column (found by its marker) re-encrypted under the newest key, so
the older key can be retired; audited with counts only."""

from __future__ import annotations

import base64
import os
import re
import tomllib

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.conftest import PII_KEY
from tests.privacy_helpers import make_person
from wxbot.cli import main
from wxbot.config import settings_from_dict
from wxbot.identity import identities as identity
from wxbot.identity import logins
from wxbot.models import Account, AuditEntry, SessionKey
from wxbot.privacy.key_rotation import encrypted_columns
from wxbot.privacy.pii import PiiError, PiiKeys
from wxbot.services import build_services


def counts(text: str) -> set[str]:
    """The "table.column: count" items of a rotation report (other modules' columns may stand beside)."""
    return set(re.findall(r"[\w.]+: \d+", text))


def test_encrypted_columns_are_discovered_from_the_markers():
    assert {"accounts.phone_enc", "wxa_session_keys.session_key_enc"} <= {c.name for c in encrypted_columns()}


def test_rotate_reencrypts_under_the_newest_key(db, services, config_dict):
    made = [make_person(db, services, phone=f"1390000{n:04d}") for n in range(5)]
    people = [account for account, _, _ in made]
    logins.store_session_key(db, services.pii, made[0][2], "c2Vzc2lvbi1rZXk=")  # a second encrypted column
    db.commit()
    new_key = base64.b64encode(os.urandom(32)).decode()
    config_dict["security"]["pii_keys"] = [new_key, PII_KEY]
    rotated = settings_from_dict(config_dict, env={})

    result = CliRunner().invoke(main, ["keys", "rotate", "--batch", "2"], obj=rotated)
    assert result.exit_code == 0, result.output
    assert {"accounts.phone_enc: 5", "wxa_session_keys.session_key_enc: 1"} <= counts(result.output)

    newest_only = PiiKeys([base64.b64decode(new_key)], base64.b64decode(config_dict["security"]["hash_key"]))
    db.expire_all()
    phones = sorted(newest_only.decrypt(a.phone_enc) for a in db.scalars(select(Account)))
    assert phones == [f"1390000{n:04d}" for n in range(5)]
    for account in people:
        try:
            services.pii.decrypt(db.get(Account, account.id).phone_enc)
            raise AssertionError("the old key alone still opens a rotated ciphertext")
        except PiiError:
            pass
    (entry,) = db.scalars(select(AuditEntry).where(AuditEntry.action == "keys.rotate"))
    assert {"accounts.phone_enc: 5", "wxa_session_keys.session_key_enc: 1"} <= counts(entry.detail)
    assert newest_only.decrypt(db.scalars(select(SessionKey.session_key_enc)).one()) == "c2Vzc2lvbi1rZXk="

    db.rollback()
    again = CliRunner().invoke(main, ["keys", "rotate"], obj=rotated)
    assert {"accounts.phone_enc: 0", "wxa_session_keys.session_key_enc: 0"} <= counts(again.output)


def test_a_new_hash_key_still_finds_accounts_until_rotate_has_rehashed_them(db, services, config_dict):
    phone = "13900001234"
    account, _, _ = make_person(db, services, phone=phone)
    db.commit()
    old_hash_key = config_dict["security"]["hash_key"]
    new_hash_key = base64.b64encode(os.urandom(32)).decode()
    config_dict["security"].update(hash_key=new_hash_key, retired_hash_keys=[old_hash_key])
    rotated = settings_from_dict(config_dict, env={})
    during = build_services(rotated).pii
    # the stored hash is still under the retired key: lookups find it, a new account is not made for it
    assert identity.account_by_phone(db, during, phone).id == account.id
    with pytest.raises(identity.PhoneTaken):  # not a second account with the same phone
        identity.upsert_platform_account(db, during, "p-other", phone)

    db.rollback()
    result = CliRunner().invoke(main, ["keys", "rotate", "--batch", "1"], obj=rotated)
    assert result.exit_code == 0, result.output
    assert "accounts.phone_hash: 1" in counts(result.output)

    after = PiiKeys([base64.b64decode(PII_KEY)], base64.b64decode(new_hash_key))  # the retired key removed
    db.expire_all()
    assert identity.account_by_phone(db, after, phone).id == account.id
    assert db.get(Account, account.id).phone_hash == after.lookup_hash(phone)
    db.rollback()
    again = CliRunner().invoke(main, ["keys", "rotate"], obj=rotated)
    assert "accounts.phone_hash: 0" in counts(again.output)


def test_rotate_stops_clearly_when_a_ciphertext_has_no_key(db, services, config_dict):
    make_person(db, services)
    db.commit()
    config_dict["security"]["pii_keys"] = [base64.b64encode(os.urandom(32)).decode()]
    result = CliRunner().invoke(main, ["keys", "rotate"], obj=settings_from_dict(config_dict, env={}))
    assert result.exit_code != 0
    assert "accounts.phone_enc row" in result.output and "not configured" in result.output


def test_generate_prints_usable_keys(tmp_path):
    result = CliRunner().invoke(main, ["keys", "generate"])
    security = tomllib.loads(result.output)["security"]
    assert len(base64.b64decode(security["pii_keys"][0])) == 32
    assert len(base64.b64decode(security["hash_key"])) == 32
