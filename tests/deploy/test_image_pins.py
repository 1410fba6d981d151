"""Every image the deployment files name is on docs/deploy.md's list of pinned images, and the list holds no more.

When a registry drops an image (Docker Hub's minio/minio, containrrr/watchtower), the fix is one change to the
Compose or Kubernetes file and one to that list; this test fails until both agree, and refuses references to
the images known to be gone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DOC = ROOT / "docs/deploy.md"
PINS_HEADING = "### Pinned third-party images"
GONE_HEADING = "### Images gone from their registries"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# This project's own images: tagged by CI (git SHA, release, latest), never pinned here.
OWN_IMAGE = re.compile(r"(^|/)air-paradis-[a-z-]+:")


def _section_rows(heading: str) -> list[list[str]]:
    text = DEPLOY_DOC.read_text()
    assert heading in text, f"docs/deploy.md has no {heading!r} section"
    rows = []
    for line in text.split(heading, 1)[1].splitlines()[1:]:
        if line.startswith("#"):
            break
        if line.startswith("|") and not set(line) <= set("|- "):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[1:]  # the header row


def _code(cell: str) -> str:
    match = re.fullmatch(r"`([^`]+)`", cell)
    assert match, f"expected one `image` reference in backticks, got {cell!r}"
    return match.group(1)


def pinned() -> dict[str, str]:
    """image reference -> how it is pinned (`digest` or `tag`), from docs/deploy.md."""
    return {_code(row[1]): row[2] for row in _section_rows(PINS_HEADING)}


def gone() -> list[str]:
    return [_code(row[0]) for row in _section_rows(GONE_HEADING)]


def _yaml_images(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "image" and isinstance(value, str):
                yield value
            else:
                yield from _yaml_images(value)
    elif isinstance(node, list):
        for item in node:
            yield from _yaml_images(item)


def referenced() -> dict[str, list[str]]:
    """image reference -> the files naming it: Compose and Kubernetes/Cloud Run YAML, and every Dockerfile."""
    found: dict[str, list[str]] = {}
    yaml_files = [*ROOT.glob("compose/**/*.yml"), *ROOT.glob("compose/**/*.yaml"), *ROOT.glob("deploy/**/*.yaml")]
    for path in yaml_files:
        for document in yaml.safe_load_all(path.read_text()):
            for image in _yaml_images(document):
                found.setdefault(image, []).append(str(path.relative_to(ROOT)))
    for path in [*ROOT.glob("*/Dockerfile"), *ROOT.glob("compose/**/Dockerfile"), *ROOT.glob("deploy/**/Dockerfile")]:
        for match in re.finditer(r"^FROM\s+(\S+)", path.read_text(), re.MULTILINE):
            found.setdefault(match.group(1), []).append(str(path.relative_to(ROOT)))
    return found


def third_party() -> dict[str, list[str]]:
    return {image: files for image, files in referenced().items() if not OWN_IMAGE.search(image)}


def test_every_third_party_image_is_on_the_pinned_list() -> None:
    unlisted = {image: files for image, files in third_party().items() if image not in pinned()}
    assert not unlisted, f"images not on docs/deploy.md's pinned list (add them, tag and digest): {unlisted}"


def test_the_pinned_list_names_only_images_in_use() -> None:
    stale = sorted(set(pinned()) - set(third_party()))
    assert not stale, f"docs/deploy.md lists images no deployment file uses any more: {stale}"


@pytest.mark.parametrize("image", sorted(pinned()))
def test_each_pin_is_a_digest_or_an_explicit_tag(image: str) -> None:
    how = pinned()[image]
    assert how in ("digest", "tag"), f"{image}: pinned by {how!r}, expected `digest` or `tag`"
    name, _, tag = image.split("@")[0].rpartition(":")
    assert name and "/" not in tag and tag != "latest", f"{image}: no explicit tag"
    if how == "digest":
        assert DIGEST.search(image), f"{image}: listed as pinned by digest but carries no sha256 digest"


def test_no_file_names_an_image_gone_from_its_registry() -> None:
    removed = gone()
    assert removed, "docs/deploy.md's list of removed images is empty"
    offending = {
        image: files
        for image, files in referenced().items()
        if any(image == old or image.startswith(f"{old}:") or image.startswith(f"{old}@") for old in removed)
    }
    assert not offending, f"images removed from their registries are still referenced: {offending}"


def test_own_images_follow_the_ci_tags() -> None:
    own = [image for image in referenced() if OWN_IMAGE.search(image)]
    assert own, "no air-paradis image found: the scan is looking in the wrong place"
    for image in own:
        tag = image.split("/")[-1].split(":", 1)[1]
        assert tag != "latest", f"{image}: a deployment file pins this project's image to `latest`"
