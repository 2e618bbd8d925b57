"""The paper's experiments at small scale on real data (see ``python -m tools.experiments --help``)."""
