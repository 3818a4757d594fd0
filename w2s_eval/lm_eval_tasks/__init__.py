"""The W2S tasks as lm-evaluation-harness tasks: YAML configs plus the data hook in ``utils.py``.

Load them with ``lm-eval run --include_path $(w2s-eval lm-eval-tasks-path) --tasks w2s ...`` or
``TaskManager(include_path=w2s_eval.harness.tasks_path())``.
"""
