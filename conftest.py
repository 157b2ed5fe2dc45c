"""The repository's pytest configuration: the mnist8k gate is a plugin of the harness
(harness/plugin.py). Installed (`pip install .`) it also loads through its pytest11 entry
point, under the same name, so listing it here loads it once either way. pytester tests the plugin."""

pytest_plugins = ["harness.plugin", "pytester"]
