"""The floor everything stands on: the Facts tree a host is judged by, and how text from outside is read.

`model` and `observed` hold the tree (what the probes saw, and what framework children
answered), `serde` turns it into facts.json and back checking every field, `schema` writes its
JSON Schema, `unstated` says in a check's words which value a file records as not stated. Beside
them the pieces every layer above reads data through: one bounded reader
(`reading`), TOML and JSON loading (`tomlio`), version parsing (`versions`), the one cleaning
and the one redaction of text from outside (`text`, `redact`), and the errors that name a
file, a key and the accepted values (`errors`). Nothing here imports another floor.
"""
