"""mnist8k harness: verified MNIST, the training engine, the rules and the reporting around them."""
