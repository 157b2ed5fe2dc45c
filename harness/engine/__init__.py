"""The training engine: verified MNIST as tensors on the device, recipes, augmentations and
the training loop with its steppers. Shared by the runner, the judge and the benchmarks."""
