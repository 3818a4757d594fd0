"""w2s-eval: weak-to-strong generalization evaluation on alignment tasks.

The Python API (``api.py``): ``w2s_eval.run(...)``, ``w2s_eval.sweep(...)``, ``w2s_eval.report(...)``,
with the command line's defaults. Imported on first use, so ``import w2s_eval`` stays light.
"""

__version__ = "0.1.0"
__all__ = ["run", "run_config", "sweep", "report", "__version__"]


def __getattr__(name: str):
    if name in ("run", "run_config", "sweep", "report"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'w2s_eval' has no attribute {name!r}")
