"""The pytest face: options, the run's session, fixtures, xdist and interrupts.

`hooks` is the entry point pytest loads (`gpuconform.plugin.hooks`); `settings` resolves the
options, their ini twins and environment variables; `start` gathers the facts, the profile and
the expectations into a `session.HostSession`; `frameworks` hands each check its framework's
children; `xdist` keeps the framework layers together and pins GPUs to workers; `interrupts`
turns SIGTERM into Ctrl-C; `invocation` repairs an option value written as a separate word;
`html_hooks` feeds pytest-html and pytest-metadata through the one redaction.
"""
