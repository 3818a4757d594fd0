"""Bad inputs (faults.BAD_INPUTS): each is one line ``w2s-eval: error: ...`` naming the flag, key
or file and what was expected, exit status 2, no traceback, and nothing written — before any data
or model is loaded."""

import pytest

from .faults import BAD_INPUTS, try_bad_input


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[c.name for c in BAD_INPUTS])
def test_bad_input_is_one_line_with_status_2(case, tmp_path, request):
    if case.needs_mount:
        request.getfixturevalue("mounts")
    assert try_bad_input(case, tmp_path) is None
