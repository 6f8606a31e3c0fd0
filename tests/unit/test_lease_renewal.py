from __future__ import annotations

from message_export.export import LeaseRenewal


class Tracking:
    def __init__(self) -> None:
        self.renewals: list[tuple[str, int]] = []

    def renew_lease(self, lease_token: str, lease_seconds: int) -> None:
        self.renewals.append((lease_token, lease_seconds))


def test_a_lease_is_renewed_once_a_third_of_it_has_passed_and_not_before():
    now = [100.0]
    tracking = Tracking()
    lease = LeaseRenewal(tracking, "token", 900, clock=lambda: now[0])  # type: ignore[arg-type]
    for moment in (100.0, 200.0, 399.9):
        now[0] = moment
        lease.renew_if_due()
    assert tracking.renewals == []
    now[0] = 400.0
    lease.renew_if_due()
    assert tracking.renewals == [("token", 900)]
    now[0] = 650.0  # 250 s after the renewal: not yet
    lease.renew_if_due()
    assert len(tracking.renewals) == 1
    now[0] = 700.0
    lease.renew_if_due()
    assert len(tracking.renewals) == 2
