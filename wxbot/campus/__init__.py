"""Campus events (宣讲会, 空中宣讲, 双选会): sign-ups, seats, check-in, reminders, their personal data."""
