"""What a researcher's day needs from a run: the software and machine recorded in metrics.json, a
run id that does not change with the machine's threads or data path, and a CLI whose --quiet is
quiet and whose -v / --log-level reach the libraries."""

import json
import logging
import os
import subprocess
import sys

from w2s_eval.cli import main

TINY = ["--set", "splits.max_per_split={A: 48, B: 48, val: 16, test: 48}", "--set", "eval.n_bootstrap=100"]


def run_folders(out):
    return sorted(p for p in out.iterdir() if not p.name.startswith("."))


def test_provenance_is_recorded_and_threads_do_not_name_the_run(tmp_path, data_dir, capsys):
    base = ["run", "--task", "toxicity", "--weak", "tfidf", "--strong", "tfidf", "--out", str(tmp_path), "--quiet", *TINY]
    assert main([*base, "--threads", "1"]) == 0
    assert main([*base, "--threads", "2", "--data-dir", str(data_dir)]) == 0  # same experiment, another machine
    (run_dir,) = run_folders(tmp_path)
    record = json.loads((run_dir / "metrics.json").read_text())
    provenance = record["provenance"]
    assert provenance["packages"]["torch"] and provenance["packages"]["transformers"] and provenance["python"]
    assert provenance["cpu_count"] >= 1 and provenance["torch_threads"] == 2 and provenance["gpus"] == []
    assert provenance["git"] is None or len(provenance["git"]["commit"]) == 40


def test_quiet_prints_neither_messages_nor_progress_bars(tmp_path):
    argv = [sys.executable, "-m", "w2s_eval.cli", "run", "--task", "toxicity", "--weak", "tfidf", "--strong",
            "minilm-l6", "--set", "strong_train.finetune=probe", "--out", str(tmp_path), "--threads", "1", *TINY]
    quiet = subprocess.run([*argv, "--quiet"], capture_output=True, text=True)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert "[w2s-eval]" not in quiet.stderr and "it/s" not in quiet.stderr and "%|" not in quiet.stderr
    assert "PGR" in quiet.stdout  # the result is still printed


def test_log_level_reaches_the_libraries(tmp_path):
    assert main(["methods", "--log-level", "info"]) == 0
    assert logging.getLogger("transformers").level == logging.INFO
    assert main(["methods", "-v"]) == 0
    assert logging.getLogger("datasets").level == logging.WARNING
    assert main(["methods"]) == 0
    assert logging.getLogger("peft").level == logging.ERROR


def test_library_noise_is_silenced_unless_asked_for_even_when_importing_them_prints_it():
    # bitsandbytes loads its CPU kernels through `kernels` on CPUs with bf16 units, and both warn
    # offline while the parser is built (--help imports them): nothing may come before usage.
    help_text = subprocess.run([sys.executable, "-m", "w2s_eval.cli", "run", "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and help_text.stderr == "", help_text.stderr
    assert help_text.stdout.startswith("usage: w2s-eval run")
    noisy = ["kernels._internals.hf_hub", "bitsandbytes.backends.cpu.ops"]
    assert main(["methods"]) == 0
    assert not any(logging.getLogger(name).isEnabledFor(logging.WARNING) for name in noisy)
    assert main(["methods", "-v"]) == 0
    assert all(logging.getLogger(name).isEnabledFor(logging.WARNING) for name in noisy)
    main(["methods"])


def test_hub_dataset_options_are_checked_and_offline_hub_data_is_one_line(tmp_path, capsys):
    data = tmp_path / "mine.csv"
    data.write_text("text,label\na,0\nb,1\n")
    assert main(["run", "--data", str(data), "--data-config", "x", "--out", str(tmp_path)]) == 2
    assert "--data-config and --data-split choose a configuration and a split of a hub dataset" in capsys.readouterr().err
    offline = subprocess.run([sys.executable, "-m", "w2s_eval.cli", "run", "--data", "someone/no-such-dataset",
                              "--data-config", "c", "--data-split", "train", "--out", str(tmp_path)],
                             capture_output=True, text=True,
                             env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                                  "HF_HOME": str(tmp_path / "hf")})
    assert offline.returncode == 2 and "Traceback" not in offline.stderr
    assert "--data someone/no-such-dataset: cannot load it from the hub" in offline.stderr
