"""What a host should be: profiles, the compatibility matrices and the sourced rule tables.

`profiles` reads a host profile, `loading` and `matrix` load matrices/ into one `Matrices`
(its row loaders split by table in `tables/`), `lookups` answers what the suites ask of them,
`expectations` computes once per run what this host should be from the profile, the
matrices and the facts, `compat` predicts which TensorFlow releases the host can run, and
`asof` says how current each table is. Reads facts; never probes.
"""
