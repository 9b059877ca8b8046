"""A Ctrl-C swallowed by library code is raised again at the next check."""

import os
import signal

import pytest

from cosearch.runtime import interrupts


@pytest.fixture(autouse=True)
def pythons_own_handler():
    """SIGINT handled as in a fresh Python process, whatever this test
    worker was left with (an xdist worker in a full suite was seen with
    another handler), and put back after."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _swallowing():
    """Library code with a bare except, hit by SIGINT inside it."""
    try:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs at a bytecode boundary
            pass
    except:  # noqa: E722 (the code under test's kind of handler)
        return "swallowed"
    return "not interrupted"


def test_a_swallowed_ctrl_c_is_raised_at_the_check():
    with interrupts.remembered():
        assert _swallowing() == "swallowed"
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()
    # Outside, Python's handler is back and nothing is pending.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    interrupts.check()


def test_without_ctrl_c_the_check_passes():
    with interrupts.remembered():
        interrupts.check()


def test_a_handler_the_caller_installed_is_kept():
    seen = []
    previous = signal.signal(signal.SIGINT, lambda *_: seen.append(1))
    try:
        with interrupts.remembered():
            assert signal.getsignal(signal.SIGINT) is not interrupts._on_sigint
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):
                pass
            interrupts.check()  # not ours to remember
        assert seen == [1]
    finally:
        signal.signal(signal.SIGINT, previous)
