"""Every GitHub Action the workflows use is pinned by commit SHA with its release tag in a comment (a tag can be
moved to other code; a commit cannot), and CI pushes images under immutable tags: sha-<commit> on every push, the
version only from a git tag, with `latest` the only tag that moves."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github/workflows").glob("*.yml"))
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
TAG_COMMENT = re.compile(r"^\s*#\s*v\d+(\.\d+)*\s*$")


def test_every_action_is_pinned_by_commit_with_its_tag_in_a_comment() -> None:
    assert WORKFLOWS
    unpinned = []
    for workflow in WORKFLOWS:
        for number, line in enumerate(workflow.read_text().splitlines(), 1):
            match = USES.match(line)
            if match is None or match.group(1).startswith("./"):
                continue
            action, rest = match.groups()
            if not PINNED.match(action) or not TAG_COMMENT.match(rest):
                unpinned.append(f"{workflow.name}:{number}: {line.strip()}")
    assert unpinned == [], unpinned


def _publish_steps() -> list[dict]:
    ci = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    return ci["jobs"]["publish"]["steps"]


def test_pushed_images_get_immutable_tags() -> None:
    steps = _publish_steps()
    meta = next(s for s in steps if str(s.get("uses", "")).startswith("docker/metadata-action@"))
    rules = [line.strip() for line in meta["with"]["tags"].splitlines() if line.strip()]
    assert "type=sha,prefix=sha-,format=long" in rules
    # The version comes from a git tag only (semver), never from a branch push that would overwrite it.
    assert any(rule.startswith("type=semver,") for rule in rules)
    assert not any(rule.startswith(("type=ref,event=branch", "type=raw,value=${{ steps.version")) for rule in rules)
    assert "type=raw,value=latest,enable={{is_default_branch}}" in rules
    push = next(s for s in steps if str(s.get("uses", "")).startswith("docker/build-push-action@"))
    assert push["with"]["tags"] == f"${{{{ steps.{meta['id']}.outputs.tags }}}}"
