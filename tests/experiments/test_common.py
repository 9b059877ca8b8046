"""What counts as a user error: the project's own types, and nothing else."""

import pytest

from cosearch.data import DataError
from cosearch.errors import InputError, UserError
from cosearch.files.checkpoint import CheckpointError
from cosearch.files.jsonl import LogError
from cosearch.hardware.architecture import Architecture
from cosearch.hardware.devices import HardwareConfigError
from cosearch.hardware.specs import Specs, check_objective
from cosearch.runtime import coordination
from cosearch.search.config_checks import SearchConfigError
from cosearch.search.workdir import WorkdirBusyError
from experiments import common


@pytest.mark.parametrize(
    "cls, old_base",
    [
        (SearchConfigError, ValueError),
        (WorkdirBusyError, ValueError),
        (HardwareConfigError, ValueError),
        (DataError, ValueError),
        (LogError, ValueError),
        (InputError, ValueError),
        (common.UsageError, ValueError),
        (CheckpointError, RuntimeError),
        (coordination.DistributedError, RuntimeError),
    ],
)
def test_project_errors_are_user_errors_and_keep_their_base(cls, old_base):
    assert issubclass(cls, UserError) and issubclass(cls, old_base)


def test_only_user_errors_are_reported_in_one_line():
    assert common.USER_ERRORS == (UserError,)
    for builtin in (ValueError, KeyError, FileNotFoundError, TypeError):
        assert not issubclass(builtin, common.USER_ERRORS)


def test_flag_value_names_the_flag_of_a_value_error_only():
    with pytest.raises(common.UsageError, match=r"^--layers: layer 0 '3,x'"):
        with common.flag_value("--layers"):
            Architecture.parse("3,x")
    with pytest.raises(common.UsageError, match="^--x: bad$"):
        with common.flag_value("--x"):
            raise ValueError("bad")
    # A UsageError already names its flag.
    with pytest.raises(common.UsageError, match="^--y: given$"):
        with common.flag_value("--x"):
            raise common.UsageError("--y: given")
    for bug in (KeyError("k"), TypeError("t")):
        with pytest.raises(type(bug)):
            with common.flag_value("--x"):
                raise bug


def test_user_input_parsers_raise_user_errors():
    with pytest.raises(InputError, match="expected integers"):
        Architecture.parse("3,a,1")
    with pytest.raises(InputError, match="layer 0 filters"):
        Architecture.parse("3,4294967296,1")
    with pytest.raises(InputError, match="min_fps"):
        Specs(min_fps=-1.0)
    with pytest.raises(InputError, match="unknown objective"):
        check_objective("speed")
    with pytest.raises(common.UsageError, match="--input: input height"):
        common.parse_input_shape("2147483648,224,64", "--input")
    assert common.parse_input_shape("32,32,3", "--input") == (32, 32, 3)
    with pytest.raises(common.UsageError, match="--seeds: expected integers"):
        common.parse_int_list(["1", "a"], "--seeds")
    with pytest.raises(InputError, match="host:port"):
        coordination.initialize("nowhere", 2, 0)
