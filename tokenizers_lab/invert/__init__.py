"""`invert`: infer a BPE tokenizer's training-data mixture from its merge list (Hayase et al. 2024).

Work in progress (issue #4): the merge replay engine is in place; the LP, CLI and benchmark are not.
"""
