"""Item 6 of "Reliability and security": secrets only from the environment.

No password, token or key is hard-coded in what we ship (`deploy/`, `streams/`): every
assignment of a secret-looking name has an empty value, a reference to the environment
or a secret store, or a placeholder in an `*.example` template; no URL carries
credentials; the real secret files are git-ignored and not tracked.
"""

from __future__ import annotations

import re
import subprocess

from streams.settings import ROOT

SECRET_NAME = r"(?:password|passwd|pwd|secret|token|api[_-]?key|credentials?)"
ASSIGN = re.compile(rf"""(?ix)\b[\w.-]*{SECRET_NAME}[\w.-]*["']?\s*[:=]\s*["']?([^\s"'#,}}]*)""")
URL_CREDENTIALS = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@'\"]*:([^/\s@'\"]+)@", re.I)
# What a non-secret value may look like: empty, an environment or template reference, a
# secret-store reference, a file path to a mounted secret, a name of a secret/key, a
# secret generated at run time (the demo's gateway token).
ALLOWED_VALUE = re.compile(r"""(?ix)^(
    | \$\{?[A-Z_][A-Z0-9_]*\}? | \$\(.*  | \{\{.*  | <.*>
    | /run/secrets/.* | \./secrets/.* | secrets/.*
    | secretKeyRef | valueFrom | spoedstroom-(secrets|worker) | password | web-token | redis-url
    | s\.sasl_password | settings\.[a-z_]+ | self\.[a-z_]+ | self\.settings\.[a-z_]+ | str | bool | none | "" | ''
    | os\.environ.* | _env\(.* | field\(.* | false | true | PASSWORD | \[\] | \{\}
    | optional\[str\] | tokens_file | secrets\.token_hex\(.*
)$""")
# A YAML block scalar (`name: |`): its value is on the lines below, each checked there.
BLOCK_SCALAR = "|"
EMPTY_ENTRY = re.compile(r"^\s*[\w.-]+=\s*$")
SHIPPED = ("deploy", "streams")


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files", *SHIPPED], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [p for p in out.splitlines() if not p.endswith((".png", ".svg", ".ico"))]


def _flagged(line: str) -> bool:
    return any(not ALLOWED_VALUE.match(m.group(1).strip().rstrip(";)")) for m in ASSIGN.finditer(line)) or bool(
        URL_CREDENTIALS.search(line))


def test_the_secret_scanner_catches_planted_secrets() -> None:
    for line in ("password: hunter2", "SPOEDSTROOM_SASL_PASSWORD=s3cr3t", 'web_token = "abc123"',
                 "url: redis://:hunter2@redis:6379/0", "GF_SECURITY_ADMIN_PASSWORD: admin"):
        assert _flagged(line), line
    for line in ("SPOEDSTROOM_SASL_PASSWORD=", "password: ${SASL_PASSWORD}", "key: password",
                 "GF_SECURITY_ADMIN_PASSWORD__FILE: /run/secrets/grafana_admin_password"):
        assert not _flagged(line), line


def test_no_hard_coded_secrets_in_deploy_and_streams() -> None:
    found = []
    files = _tracked()
    assert len(files) > 20
    for path in files:
        text = (ROOT / path).read_text(errors="replace")
        for lineno, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith(("#", "//")) or "description" in stripped.lower():
                continue
            for m in ASSIGN.finditer(line):
                value = m.group(1).strip().rstrip(";)")
                if value == BLOCK_SCALAR and ".example" in path:
                    # A template's multi-line secret (e.g. `partner=token` lines): only
                    # names with empty values.
                    indent = len(line) - len(line.lstrip())
                    for below in text.splitlines()[lineno:]:
                        if below.strip() and len(below) - len(below.lstrip()) <= indent:
                            break
                        if below.strip() and not EMPTY_ENTRY.match(below):
                            found.append(f"{path}: a value under {stripped[:60]}: {below.split('=')[0].strip()}=...")
                elif not ALLOWED_VALUE.match(value) and not path.endswith(".example"):
                    found.append(f"{path}:{lineno}: {stripped[:120]}")
            for m in URL_CREDENTIALS.finditer(line):
                if m.group(1) not in ("PASSWORD", "password", "${REDIS_PASSWORD}"):
                    found.append(f"{path}:{lineno}: credentials in a URL: {stripped[:120]}")
    assert not found, "hard-coded secrets?\n" + "\n".join(found)


def test_secret_templates_are_empty_and_real_secret_files_untracked() -> None:
    files = _tracked()
    for path in files:
        if path.startswith("deploy/secrets/"):
            assert path.endswith(".example"), f"a real secret file is tracked: {path}"
    env_example = (ROOT / "deploy/env/spoedstroom.env.example").read_text()
    for line in env_example.splitlines():
        if re.match(rf"(?i)^\s*SPOEDSTROOM_\w*{SECRET_NAME}\w*\s*=", line):
            assert line.split("=", 1)[1].strip() == "", f"the template holds a secret value: {line}"
    assert "deploy/env/spoedstroom.env" not in files
    for probe in ("deploy/secrets/grafana_admin_password", "deploy/env/spoedstroom.env"):
        ignored = subprocess.run(["git", "check-ignore", "-q", probe], cwd=ROOT).returncode == 0
        assert ignored, f"{probe} is not git-ignored"


def test_settings_read_secrets_only_from_the_environment() -> None:
    from streams.settings import Settings

    defaults = Settings()
    assert defaults.sasl_password == "" and defaults.web_token == "" and defaults.sasl_username == ""
    assert "@" not in defaults.redis_url, "no credentials in the default Redis URL"
