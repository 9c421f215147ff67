"""The host verdict is the first broken layer, lowest first, with its reason."""

from __future__ import annotations

from gpuconform.verdict.judge import CheckOutcome
from gpuconform.verdict.judge import block_dependents
from gpuconform.verdict.judge import compute_verdict
from gpuconform.verdict.judge import layer_status


def outcome(check_id: str, result: str = "passed", **kw: object) -> CheckOutcome:
    layer = check_id.split("::")[0]
    return CheckOutcome(check_id, layer, result, **kw)  # type: ignore[arg-type]


def test_all_passing_checks_give_a_pass_line_naming_the_profile() -> None:
    v = compute_verdict([outcome("platform::a"), outcome("driver::b")], "t4")
    assert v.line() == "host verdict: PASS (profile t4)"


def test_the_lowest_failing_layer_wins_regardless_of_order() -> None:
    outcomes = [
        outcome("libraries::x", "failed", summary="cuDNN 8 found"),
        outcome("driver::y", "failed", summary="no GPU on the PCI bus"),
    ]
    assert compute_verdict(outcomes, "t4").line() == "host verdict: FAIL at driver: no GPU on the PCI bus"


def test_an_error_fails_the_host_as_could_not_check() -> None:
    v = compute_verdict([outcome("driver::nvml", "error", summary="probe timed out")], "t4")
    assert v.status == "FAIL"
    assert v.reason == "could not check driver::nvml: probe timed out"


def test_not_applicable_and_blocked_skips_do_not_fail_a_host() -> None:
    outcomes = [
        outcome("platform::a"),
        outcome("driver::b", "skipped", skip_reason="not applicable: profile 'cpu' expects no GPU"),
    ]
    assert compute_verdict(outcomes, "cpu").status == "PASS"


def test_warnings_pass_unless_strict() -> None:
    outcomes = [outcome("driver::w", warnings=["driver between floor and toolkit driver"])]
    assert compute_verdict(outcomes, "t4").line() == "host verdict: PASS (profile t4, 1 warning(s))"
    strict = compute_verdict(outcomes, "t4", strict=True)
    assert strict.line().startswith("host verdict: FAIL at driver: warning treated as failure (--host-strict)")


def test_an_unexpected_pass_of_a_known_regression_fails_with_update_the_matrix() -> None:
    v = compute_verdict([outcome("preprocessing::r", "xpassed")], "cpu")
    assert "update the matrix or pin" in v.reason


def test_no_checks_is_not_a_pass() -> None:
    assert compute_verdict([], "t4").status == "NONE"


def test_a_layer_with_more_blocked_checks_than_passes_is_blocked_not_a_pass() -> None:
    # The t4 memory layer on a host whose TensorFlow sees no GPU: 2 passed, 6 blocked.
    assert layer_status({"passed": 2, "blocked": 6}) == "blocked"
    assert layer_status({"passed": 1, "xfailed": 1, "blocked": 2, "not-applicable": 9}) == "pass"
    assert layer_status({"passed": 3, "blocked": 2}) == "pass"
    assert layer_status({"passed": 1, "blocked": 6, "failed": 1}) == "fail"
    assert layer_status({"passed": 1, "blocked": 6}, warnings=1) == "warn"


def test_checks_whose_prerequisite_failed_elsewhere_are_blocked_by_the_chains_root_whatever_the_order() -> None:
    # As an xdist controller receives them: the dependents first, each having run on its own.
    outcomes = {
        o.check_id: o
        for o in (
            outcome("driver::nvml", "failed", summary="NVML is not loaded", depends_on=("driver::module",)),
            outcome("driver::count", "passed", depends_on=("driver::nvml",)),
            outcome("driver::memory", "skipped", skip_reason="not applicable: no GPU", depends_on=("driver::nvml",)),
            outcome("driver::module", "failed", summary="the nvidia module is not loaded", depends_on=("driver::pci",)),
            outcome("driver::pci", "passed"),
            outcome("driver::other", "failed", summary="nouveau is loaded"),
        )
    }
    assert block_dependents(outcomes) == ["driver::nvml", "driver::count", "driver::memory"]
    reason = "blocked by driver::module: the nvidia module is not loaded"
    for check in ("driver::nvml", "driver::count", "driver::memory"):
        assert (outcomes[check].kind, outcomes[check].skip_reason, outcomes[check].summary) == ("blocked", reason, "")
    v = compute_verdict(outcomes.values(), "t4")
    assert (v.check_id, v.blocked, v.also) == (
        "driver::module",
        ("driver::nvml", "driver::count", "driver::memory"),
        (("driver::other", "nouveau is loaded"),),
    )
    assert block_dependents(outcomes) == []  # settled: a serial run's outcomes are left as they are
