"""The `mnist8k` command line: its commands, the notebook importer and the notebook judge."""
