"""Kills, concurrency, determinism and a full disk on real training: TF-IDF weak, MiniLM-L6
student (full fine-tune, tiny slice), each run a separate ``w2s-eval run`` process."""

import pytest

from .faults import (delete_the_run_folder_mid_run, fill_the_disk_mid_run, kill_at_every_step, leftovers, outcome,
                     run_concurrently, run_to_end)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run: what every other run of the same command must produce."""
    out = tmp_path_factory.mktemp("reference")
    done = run_to_end(out)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not leftovers(out), "a finished run leaves no tmp file, partial step or lock"
    return outcome(out)


def test_real_training_is_deterministic(reference, tmp_path):
    """Same seed, another process and folder: identical predictions and metrics."""
    assert run_to_end(tmp_path).returncode == 0
    assert outcome(tmp_path) == reference


def test_a_kill_at_every_step_resumes_identically(reference, tmp_path):
    report = kill_at_every_step(tmp_path, reference)
    assert not report.problems, report
    assert report.identical and len(report.kills) >= 4, report  # the two training steps, twice each


def test_two_runs_at_once_on_one_out_share_the_work(reference, tmp_path):
    assert run_concurrently(tmp_path, copies=2) == [0, 0]
    assert outcome(tmp_path) == reference
    assert not leftovers(tmp_path)


def test_a_disk_filling_up_mid_run_is_one_line_and_resumes(reference, tmp_path, mounts):
    report = fill_the_disk_mid_run(tmp_path / "disk", reference)
    assert report.status == 1, report
    assert len(report.message.splitlines()) == 1 and "no space left on the device" in report.message, report
    assert report.leftovers == [], "no tmp file or partial step is left by the failed write"
    assert report.resumed_identical, report


def test_a_run_folder_deleted_mid_run_stops_in_one_line_and_resumes(reference, tmp_path):
    report = delete_the_run_folder_mid_run(tmp_path, reference)
    assert report.status == 2 and len(report.message.splitlines()) == 1, report
    assert "was deleted while w2s-eval was writing to it" in report.message, report
    assert not report.half_made, "no run folder made again without its config.yaml"
    assert report.resumed_identical, report
