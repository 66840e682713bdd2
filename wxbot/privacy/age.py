"""The minimum age (the policy, §九): nobody known to be under 16 is served, and nothing of their entry is kept."""

from __future__ import annotations

from datetime import date

from wxbot import clock
from wxbot.errors import Invalid, Refused

MIN_AGE = 16
# A graduation year read with the oldest usual age at graduation (a bachelor's degree) gives the earliest
# plausible birth year: only those under 16 even on that reading are refused.
TYPICAL_GRADUATION_AGE = 22


class UnderAgeError(Refused):
    def __init__(self) -> None:
        super().__init__("under_age", f"未满{MIN_AGE}周岁的用户不能使用本服务，我们没有保存您填写的信息。")


def check_age(
    *,
    birth_year: int | None = None,
    birth_date: date | None = None,
    graduation_year: int | None = None,
    age: int | None = None,
) -> None:
    """Refuse anyone known to be under 16 (UnderAgeError) -- call it before storing anything of an entry.

    Knowing means: an age, a birth date or year, or a graduation year that puts the person under 16 even on
    the most generous reading (born early in the year; graduating at TYPICAL_GRADUATION_AGE). Implausible
    values are refused as invalid (Invalid "invalid_age").
    """
    today = clock.now().date()
    if age is not None:
        if not 0 <= age <= 120:
            raise Invalid("invalid_age", "年龄不正确")
        if age < MIN_AGE:
            raise UnderAgeError()
    if birth_date is not None:
        if not today.year - 120 <= birth_date.year <= today.year or birth_date > today:
            raise Invalid("invalid_age", "出生日期不正确")
        had_birthday = (today.month, today.day) >= (birth_date.month, birth_date.day)
        if today.year - birth_date.year - (0 if had_birthday else 1) < MIN_AGE:
            raise UnderAgeError()
    if birth_year is not None:
        if not today.year - 120 <= birth_year <= today.year:
            raise Invalid("invalid_age", "出生年份不正确")
        if today.year - birth_year < MIN_AGE:
            raise UnderAgeError()
    if graduation_year is not None:
        if not today.year - 80 <= graduation_year <= today.year + 15:
            raise Invalid("invalid_age", "毕业年份不正确")
        if today.year - (graduation_year - TYPICAL_GRADUATION_AGE) < MIN_AGE:
            raise UnderAgeError()
