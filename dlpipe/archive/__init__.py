"""The run archive: run directories, atomic writes, the RunRecord of each run, run.log, and the environment.

The lowest stage after the language: every other stage writes its files through it,
and it imports none of them (nor torch, except environment.py).
"""
