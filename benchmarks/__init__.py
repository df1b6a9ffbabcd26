"""Speed and memory benchmarks of the workbench against the plain SDKs and llama.cpp.

Run them with ``python -m benchmarks`` from the repository root; README.md
explains each benchmark and holds the latest results.
"""
