"""A withdrawal takes effect at once in any process: the modules that react to it are loaded by the ledger
itself, not only when the web app happened to import them (a jobs process imports far less)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import sys
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    import wxbot.models
    from wxbot.privacy import consent
    from wxbot.db import Base
    from wxbot.models import Account

    assert "wxbot.applications.status_changes" not in sys.modules  # a process that never loaded the reminder rules
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        account = Account(platform_account_id="p-1", reminder_pref="all")
        session.add(account)
        session.flush()
        consent.record(session, kind="status_reminders", channel="miniprogram", account_id=account.id)
        consent.withdraw(session, kind="status_reminders", account_id=account.id)
        print(account.reminder_pref)
    """
)


def test_withdrawing_reminders_turns_them_off_in_a_process_that_never_loaded_them():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "off"
