"""The repository's pytest configuration: the mnist8k gate is a plugin of the harness
(harness/plugin.py), loaded here as pytest-benchmark loads its own; pytester tests the plugin."""
pytest_plugins = ["harness.plugin", "pytester"]
