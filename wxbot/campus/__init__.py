"""Campus events (宣讲会, 空中宣讲, 双选会): sign-ups, seats, check-in, reminders, their personal data.

spec (the platform's event payload), schedule (storing the platform's events), views (reading, and what the
APIs show), signups (sign-up, cancellation, seats and the waiting list), checkin, reminders (what people are
told), export (the organiser's CSV), personal_data (the rights registry's declaration), fields (field checks).
"""
