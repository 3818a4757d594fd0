"""w2s-eval: weak-to-strong generalization evaluation on alignment tasks."""

__version__ = "0.1.0"
