"""The bad-input suite (issue 9): every hostile input gets a one-line message, and nothing else happens.

The cases live in ``hostile_cases.py``: small files that declare huge things, damaged
runs, hostile run uploads and bad CLI arguments, fed through the sidebar upload, the Runs
page's upload, the runs folder and the command line. They run in one fresh worker process
(so its peak memory, the process's VmHWM, is the cases' own); here each case's record
is checked: refused with a one-line message naming the problem, no traceback, peak memory
under 1 GB, no file changed anywhere in the sandbox (existing runs byte-identical), and for
run folders, listed as damaged without hiding the good run and deletable unless the folder
holds a user's file.
"""
from __future__ import annotations

import re
from collections import Counter

import pytest

from tests.unit import hostile_cases as H

PEAK_LIMIT_MB = 1024  # the bound on the process, for every case


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """Build every case's input, run them all in one worker, and return the records by id."""
    root = tmp_path_factory.mktemp("hostile")
    H.build(root)
    return H.run_worker(root)


def test_the_suite_covers_every_entry_point():
    by_channel = Counter(c.channel for c in H.CASES)
    assert len(H.CASES) >= 60 and len(set(H.CASE_IDS)) == len(H.CASE_IDS)
    assert by_channel["upload"] >= 25 and by_channel["run_upload"] >= 15
    assert by_channel["run_folder"] >= 10 and by_channel["cli"] >= 15
    ids = " ".join(H.CASE_IDS)
    for kind in ("npz-", "zip-", "run-", "folder-", "cli-"):
        assert kind in ids


@pytest.mark.parametrize("case_id", H.CASE_IDS)
def test_hostile_input_is_refused_cleanly(records, case_id):
    rec = records[case_id]
    assert rec["outcome"] == "refused", rec.get("traceback") or rec
    message = rec["message"]
    assert message and "\n" not in message.strip(), message  # one line
    assert "Traceback" not in message + rec.get("stderr", "") + rec.get("stdout", "")
    assert re.search(rec["needle"], message, re.IGNORECASE), message  # names the problem
    if rec["channel"] in ("cli", "import_then_eval"):
        assert rec["stderr"].strip() == f"error: {message}" and rec["stdout"] == ""
    assert rec["peak_mb"] < PEAK_LIMIT_MB, f"peak {rec['peak_mb']} MB (before the case: {rec['peak_before_mb']})"
    # Nothing written, changed or removed anywhere in the sandbox (runs, data, uploads, cwd).
    assert rec["changed_files"] == [], rec["changed_files"]


@pytest.mark.parametrize("case_id", [c.id for c in H.CASES if c.channel == "run_folder"])
def test_a_damaged_run_folder_never_hides_the_others_and_can_be_deleted(records, case_id):
    checks = records[case_id]["checks"]
    assert checks["listed_as_damaged"] and checks["good_run_still_listed"] and checks["cli_runs_ok"]
    if checks["deletable_expected"]:
        assert checks["deleted"]
    else:  # a folder holding a user's own file is left alone, with a reason
        assert not checks["deleted"] and "not part of a run" in checks["delete_refused"]


def test_an_uploaded_run_never_makes_the_server_open_its_dataset_path(records):
    checks = records["run-dataset-names-a-server-file"]["checks"]
    assert checks["imported_marked"] and checks["secret_never_opened"]
