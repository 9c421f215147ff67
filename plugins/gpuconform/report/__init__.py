"""The run's reports: facts.json, result.json, junit.xml's host properties and the HTML host section.

`files` writes them, `html` and `htmlparts` build the host section and the fleet page,
`staging` makes each report complete or absent (written aside, moved into place whole), and
`run` is the structural type of what the reports read of a finished run, so that this floor
knows nothing of the pytest face above it.
"""
