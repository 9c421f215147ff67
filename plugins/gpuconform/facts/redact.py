"""The one redaction every environment value goes through before it reaches a report.

Our facts (the allowlisted variables), pytest-metadata's Environment table and whatever CI
plugins add to it all pass through `environment_value` or `metadata`. Three rules, applied in
this order:

- a name that says it holds a secret (TOKEN, SECRET, PASSWORD, KEY, ...) hides the whole value;
- credentials inside a value are cut out and the rest kept: URL userinfo (up to the *last* `@`
  before the host, so `https://user:p@ss@host` loses all of `p@ss`), secret-named query and
  `name=value` parameters, `Authorization`-style schemes, private-key blocks;
- token-shaped runs are cut out wherever they stand: the documented prefixes (GitHub, GitLab,
  Slack, AWS, Hugging Face, NVIDIA, PyPI, npm, OpenAI, Google), JWTs, and long opaque hex or
  base64 runs.

The opaque-run rules are precise on purpose, so that version strings, wheel tags, kernel
releases, paths and commit ids survive: a run must be long (32+), unbroken by dots, and look
random (hex with letters and digits; or mixed case in short pieces, which words, CamelCase
identifiers and path segments are not).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from collections.abc import MutableMapping
from typing import Any

REDACTED = "<redacted>"

#: A name containing any of these (in any case) holds a secret: its whole value is hidden.
SECRET_PARTS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL", "AUTH", "COOKIE", "SESSION")
#: Whole words of a name that mean the same (PASS alone would also catch COMPASS, BYPASS).
SECRET_WORDS = ("PASS", "PWD", "PW", "PAT", "DSN")
#: Names that look secret by the rules above but are not: the shell's working directories.
NOT_SECRET_NAMES = ("PWD", "OLDPWD")

#: A 40- or 64-digit hex value under a name with one of these parts is a commit or a digest.
COMMIT_PARTS = ("COMMIT", "SHA", "REVISION", "SOURCE_VERSION", "DIGEST")

#: Tokens with a documented shape; each is cut out wherever it appears.
TOKEN_SHAPES = (
    r"gh[pousr]_[A-Za-z0-9]{20,}",  # GitHub: personal, OAuth, user-to-server, server, refresh
    r"github_pat_[A-Za-z0-9_]{20,}",  # GitHub fine-grained personal access token
    r"gl(?:pat|dt|ptt|rt|cbt|ft|imt|oas|soat|agent)-[A-Za-z0-9_-]{16,}",  # GitLab
    r"GR1348941[A-Za-z0-9_-]{16,}",  # GitLab runner registration token
    r"xox[abposre]-[A-Za-z0-9-]{10,}",  # Slack bot, user, app, refresh, ...
    r"xapp-[0-9]-[A-Za-z0-9-]{10,}",  # Slack app-level token
    r"T[A-Z0-9]{8,}/B[A-Z0-9]{8,}/[A-Za-z0-9]{20,}",  # Slack incoming-webhook path
    r"(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA|ANPA|ANVA|AGPA)[A-Z0-9]{16}",  # AWS key and principal ids
    r"hf_[A-Za-z0-9]{30,}",  # Hugging Face
    r"nvapi-[A-Za-z0-9_-]{20,}",  # NVIDIA API catalog / NGC
    r"pypi-[A-Za-z0-9_-]{50,}",  # PyPI upload token
    r"npm_[A-Za-z0-9]{36}",  # npm
    r"sk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_-]{20,}",  # OpenAI, Anthropic, Stripe secret keys
    r"AIza[0-9A-Za-z_-]{35}",  # Google API key
    r"eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*",  # JWT: base64url {"...} . payload . signature
)
_TOKEN = re.compile(r"(?<![A-Za-z0-9])(?:" + "|".join(TOKEN_SHAPES) + r")")
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY-----|.*)", re.S)
#: Every pattern is linear in the value's length (a 128 KiB variable must not cost minutes):
#: a run is only tried where it starts (the look-behinds), names are matched possessively, and
#: schemes are bounded.
_URL = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,31}://(?:" + re.escape(REDACTED) + r"|[^\s\"'<>`])+")
_QUERY_PARAM = re.compile(r"(?P<lead>[?&;#])(?P<name>[^=&;#\s]+)=(?P<value>[^&;#\s]*)")
#: `name=value` or `name: value` inside a value (`--password=...`, `{"token": "..."}`); the name
#: decides, and only then is the value read, so `x=token=abc` finds `token=abc` too.
_NAMED = re.compile(r"(?<![A-Za-z0-9_.-])(?P<name>[A-Za-z0-9_.-]++)[\"']?\s*+[=:]\s*+")
_VALUE = re.compile(r"(?i:bearer|basic|digest|negotiate|token)\s++[^\s&;,\"']++|\"[^\"]*+\"|'[^']*+'|[^\s&;,\"']++")
#: `Authorization: Bearer <credential>`; the credential must not look like an English word.
_AUTH_SCHEME = re.compile(r"(?i:\b(?:bearer|basic|digest|negotiate)\s+)(?P<value>[A-Za-z0-9._~+/=-]{8,})")
_HEX_RUN = re.compile(r"(?<![A-Za-z0-9])(?:[0-9a-f]{32,}|[0-9A-F]{32,})(?![A-Za-z0-9])")
_DIGEST_PREFIX = re.compile(r"(?i:sha1|sha224|sha256|sha384|sha512|md5|blake2b|git):$")
_OPAQUE_RUN = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{32,}={0,2}(?![A-Za-z0-9+/_=-])")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_WORDISH = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_SEPARATORS = re.compile(r"[-_+/=]+")
#: Random base64 splits into words (`_WORDISH`) of 1.9 characters on average; words, CamelCase
#: identifiers and path segments average 4 and more. Measured on this machine: of 21,000
#: random 32- and 40-character tokens 3.7% pass as ordinary, and of 24,000 mixed-case runs in
#: the paths below /usr, /etc and site-packages one (libSvtAv1Enc) is taken for a token.
_OPAQUE_MEAN_PIECE = 3.0


def secret_name(name: str) -> bool:
    """Whether a variable or key with this name holds a secret (its whole value is hidden)."""
    upper = name.upper()
    if upper in NOT_SECRET_NAMES:
        return False
    if any(part in upper for part in SECRET_PARTS):
        return True
    return any(word in SECRET_WORDS for word in re.split(r"[^A-Z0-9]+", upper))


def environment_value(name: str, value: str) -> str:
    """One environment variable's value as a report may show it."""
    return REDACTED if secret_name(name) else text(value, name)


def text(value: str, name: str = "") -> str:
    """`value` with every credential and token-shaped run in it replaced by REDACTED.

    `name` is the variable or key the value came from: a commit id is kept only under a
    name that says it is one (GIT_COMMIT, CI_COMMIT_SHA).
    """
    value = _PRIVATE_KEY.sub(REDACTED, value)
    value = _named_values(value)
    value = _AUTH_SCHEME.sub(_auth_scheme, value)
    value = _URL.sub(lambda m: _url(m.group(0)), value)
    value = _TOKEN.sub(REDACTED, value)
    urls = [m.span() for m in _URL.finditer(value)]
    value = _HEX_RUN.sub(lambda m: _hex(m, name, urls), value)
    return _OPAQUE_RUN.sub(_opaque, value)


def metadata(data: MutableMapping[str, Any]) -> None:
    """Redact pytest-metadata's dict in place (it is shared: pytest-html, junitxml and -v read it)."""
    cleaned = {text(str(key)): _metadata_value(str(key), value) for key, value in data.items()}
    data.clear()
    data.update(cleaned)


def _metadata_value(name: str, value: Any) -> Any:
    if secret_name(name):
        return REDACTED
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {text(str(k)): _metadata_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_metadata_value(name, v) for v in value]
    return text(value if isinstance(value, str) else str(value), name)


def _named_values(value: str) -> str:
    # URLs have rules of their own (userinfo, query parameters): `user:pass@host` is not `name: value`.
    urls = iter([m.span() for m in _URL.finditer(value)] + [(len(value) + 1, len(value) + 1)])
    url = next(urls)
    out: list[str] = []
    done = 0  # value[:done] is in `out`
    for m in _NAMED.finditer(value):
        while url[1] <= m.start():
            url = next(urls)
        if m.start() < done or url[0] <= m.start() or not secret_name(m["name"]):
            continue
        secret = _VALUE.match(value, m.end())
        if secret is None:
            continue
        quote = value[secret.start()] if value[secret.start()] in "\"'" else ""
        out += [value[done : secret.start()], quote, REDACTED, quote]
        done = secret.end()
    return "".join(out) + value[done:]


def _auth_scheme(m: re.Match[str]) -> str:
    credential = m["value"]
    if not re.search(r"[0-9+/=]|.[A-Z]", credential):
        return m.group(0)  # "Basic functionality": a word, not a credential
    return m.group(0)[: m.start("value") - m.start()] + REDACTED


def _url(url: str) -> str:
    scheme_end = url.index("://") + 3
    rest = url[scheme_end:]
    at = _userinfo_end(rest)
    if at >= 0:
        rest = REDACTED + rest[at:]
    return url[:scheme_end] + _QUERY_PARAM.sub(_query_param, rest)


def _query_param(m: re.Match[str]) -> str:
    secret = m["value"] and secret_name(m["name"])
    return m["lead"] + m["name"] + "=" + (REDACTED if secret else m["value"])


def _userinfo_end(rest: str) -> int:
    """Where the userinfo of a URL's remainder (after `scheme://`) ends: the index of its `@`, or -1.

    RFC 3986: the authority runs to the first `/`, `?` or `#`, and userinfo to the last `@` in
    it, so a password with an `@` is hidden whole. A password with an unencoded `/`, `?` or `#`
    (as people do write them) ends the authority early; `user:pa/ss@host` still counts when
    what follows the colon is not a port.
    """
    authority = re.match(r"[^/?#]*", rest)
    end = authority.end() if authority else 0
    at = rest.rfind("@", 0, end)
    if at >= 0:
        return at
    colon = rest.find(":", 0, end)
    last_at = rest.rfind("@")
    if colon >= 0 and last_at > end and not rest[colon + 1 : end].isdigit():
        return last_at
    return -1


def _hex(m: re.Match[str], name: str, urls: list[tuple[int, int]]) -> str:
    run = m.group(0)
    before = m.string[max(0, m.start() - 8) : m.start()]
    if len(run) in (40, 64) and any(part in name.upper() for part in COMMIT_PARTS):
        return run  # a commit id (GIT_COMMIT) or an image digest under a name that says so
    if _DIGEST_PREFIX.search(before):
        return run  # sha256:<digest>
    in_url = any(start <= m.start() < end for start, end in urls)
    if before.endswith("/") and not in_url and m.string[m.end() : m.end() + 1] in ("", "/", ":"):
        return run  # a path segment (a VS Code server or bazel cache directory in PATH)
    if not (any(c.isdigit() for c in run) and any(c.isalpha() for c in run)):
        return run
    return REDACTED


def _opaque(m: re.Match[str]) -> str:
    run = _UUID.sub("", m.group(0))  # GPU and MIG UUIDs (CUDA_VISIBLE_DEVICES=GPU-6f1e...), repository ids
    if len(run) < 32 or not _mixed_case(run):
        return m.group(0)  # one case only: a nix store hash, a constant, a lower-case path
    pieces = [p for p in _SEPARATORS.split(run) if p]
    # A random run, whole (its longest piece random too: `/usr/lib/x86_64-linux-gnu/gconv/ISO-2022-JP-3`
    # is many short words), or a long random piece after a prefix (`artifacts/<token>`).
    if _random(run, 0) and _random(max(pieces, key=len), 12) or any(_random(p, 24) for p in pieces):
        return REDACTED
    return m.group(0)


def _random(run: str, length: int) -> bool:
    words = _WORDISH.findall(run)
    return len(run) >= length and _mixed_case(run) and sum(map(len, words)) / len(words) < _OPAQUE_MEAN_PIECE


def _mixed_case(run: str) -> bool:
    return re.search("[A-Z]", run) is not None and re.search("[a-z]", run) is not None
