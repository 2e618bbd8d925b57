"""Command-line tools: model converter, training, benchmarks, experiments."""
