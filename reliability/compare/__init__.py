"""`reliability compare BASELINE CANDIDATE`: is the release candidate worse than the release we ship?

runs.py finds and pairs the runs of each stage (and refuses unlike runs); judge.py has latency.py and
rules.py judge each pair; output.py writes the JUnit suite "regression vs <baseline>" and a JSON summary beside it.
"""
