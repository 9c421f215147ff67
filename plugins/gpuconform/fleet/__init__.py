"""Roll up the result.json of many hosts into one fleet report.

`python -m gpuconform fleet merge <result.json or dirs>...` reads every result
(tolerating missing, truncated and foreign files with a warning), groups the
failing hosts by root cause ("12 hosts: driver 470.* is too old for tensorflow
2.21"), and writes fleet.html (hosts x layers), fleet-junit.xml (one testsuite
per host) and fleet.json. It schedules nothing: the launchers in launchers/
run the suite on each node with the engine a site already has.
"""

from __future__ import annotations
