"""mnist8k harness: verified MNIST, the training engine, the judge and its sandboxed runner,
the rules and the reporting around them."""

__version__ = "0.4.0"  # the one version: pyproject reads it; in every record, so merged shards are compared by it
