"""Language-specific neurons and layers: activation statistics, LAPE/PLND scoring, layer selection.

`mlreason probe-layers RECIPE` runs it (see mlreason.probing.run.run_probe); the pure math lives in
scoring.py and selection.py, the hooks in stats.py (on the MLPs mlreason.layers locates), the report
in report.py, the PiM check in pim.py.
"""
