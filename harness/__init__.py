"""mnist8k harness: verified MNIST, the training engine, the judge and its sandboxed runner,
the rules and the reporting around them."""

__version__ = "0.2.0"  # in every record: evidence and merged shards are compared by it
