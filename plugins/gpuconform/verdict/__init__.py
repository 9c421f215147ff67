"""The outcome of each check and the one verdict of the host.

`check` is how a check in suites/ says that the host does not conform (the problem, the
layer, the fix) and when it cannot judge; `judge` collects the outcomes, blocks what stands
on a broken layer, and reduces them to the host verdict the reports carry.
"""
