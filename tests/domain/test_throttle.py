import pytest

from app.domain.throttle import login_delay_s


@pytest.mark.parametrize(
    ("failures", "expected"), [(0, 0.0), (1, 0.25), (2, 0.5), (3, 1.0), (4, 2.0), (10, 5.0)]
)
def test_each_failure_doubles_the_wait_up_to_the_ceiling(failures: int, expected: float) -> None:
    assert login_delay_s(failures, base_s=0.25, max_s=5.0) == expected
