#!/usr/bin/env python3
"""Drives relreg's GitHub-compatible routes with PyGithub, a client made for GitHub releases.

Usage: check.py BASE_URL EXPECTED_VERSION EXPECTED_DIGEST [ASSET_NAME]
       check.py upload BASE_URL TAG FILE

BASE_URL is the API root PyGithub is pointed at (e.g. http://127.0.0.1:8080/api/v3); the
relreg repo `acme` is the GitHub owner and its package `app` the GitHub repository. A token in
GITHUB_TOKEN is sent the way PyGithub sends one (`Authorization: token X`).

Checks that the latest release is EXPECTED_VERSION, that its asset (ASSET_NAME, or the only
one) advertises EXPECTED_DIGEST, and that the bytes downloaded both from
`browser_download_url` and through the API (`asset.download_asset()`) hash to that digest.
Prints a JSON report (latest tag, listed tags in order, asset) on success; exits 1 on failure.

`upload` publishes the way a GitHub release pipeline does: creates a draft release for TAG,
uploads FILE with `GitRelease.upload_asset` (the release's `upload_url`), publishes it with
`update_release(draft=False)`, then checks that the release is the latest and that its asset's
bytes, downloaded from `browser_download_url`, hash to FILE's digest. Prints a JSON report
(release id, asset id, name, size, digest, draft state before publishing).
"""

import hashlib
import json
import os
import sys
import urllib.request

import github
from github import Auth, Github


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def fail(message: str) -> None:
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition: bool, message: str) -> None:
    if not condition:
        fail(message)


def client(base_url: str) -> tuple[Github, str | None]:
    token = os.environ.get("GITHUB_TOKEN")
    auth = Auth.Token(token) if token else None
    gh = Github(base_url=base_url, auth=auth, retry=None, timeout=30, seconds_between_requests=None)
    return gh, token


def upload(base_url: str, tag: str, path: str) -> None:
    gh, token = client(base_url)
    repo = gh.get_repo("acme/app")
    with open(path, "rb") as f:
        want = sha256(f.read())
    draft = repo.create_git_release(tag, tag, "", draft=True)
    check(draft.draft, "the created release is not a draft")
    asset = draft.upload_asset(path)
    check(asset.name == os.path.basename(path), f"asset name {asset.name!r}")
    check(asset.size == os.path.getsize(path), f"asset size {asset.size}")
    digest = asset.raw_data.get("digest")
    check(digest == want, f"asset digest {digest!r}, want {want!r}")
    published = draft.update_release(tag, "", draft=False)
    check(not published.draft, "the release is still a draft after update_release(draft=False)")
    latest = repo.get_latest_release()
    check(latest.id == draft.id, f"latest is {latest.tag_name!r}, not the uploaded release")
    listed = [a for a in latest.assets if a.name == asset.name]
    check(len(listed) == 1, f"asset {asset.name!r} not in the published release")
    request = urllib.request.Request(listed[0].browser_download_url)
    if token:
        request.add_header("Authorization", f"token {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        data = response.read()
    check(sha256(data) == want, f"downloaded bytes hash to {sha256(data)}, want {want}")
    print(json.dumps({
        "release": draft.id,
        "draft_before_publish": draft.draft,
        "asset": {"id": asset.id, "name": asset.name, "size": asset.size, "digest": digest},
    }))


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "upload":
        upload(*sys.argv[2:5])
        return
    if len(sys.argv) not in (4, 5):
        fail(__doc__ or "usage")
    base_url, expected_version, expected_digest = sys.argv[1:4]
    asset_name = sys.argv[4] if len(sys.argv) == 5 else None
    token = os.environ.get("GITHUB_TOKEN")
    auth = Auth.Token(token) if token else None
    # A small page size makes PyGithub follow the Link header across pages.
    gh = Github(
        base_url=base_url, auth=auth, per_page=2, retry=None, timeout=30, seconds_between_requests=None
    )

    repo = gh.get_repo("acme/app")
    check(repo.full_name == "acme/app", f"full_name {repo.full_name!r}")
    check(repo.owner.login == "acme", f"owner {repo.owner.login!r}")

    latest = repo.get_latest_release()
    check(latest.tag_name == expected_version, f"latest is {latest.tag_name!r}, want {expected_version!r}")
    check(not latest.prerelease and not latest.draft, "latest is a prerelease or draft")

    by_tag = repo.get_release("v" + expected_version)
    check(by_tag.id == latest.id, "the v-prefixed tag names another release")
    by_id = repo.get_release(latest.id)
    check(by_id.tag_name == expected_version, "the release id names another release")

    tags = [r.tag_name for r in repo.get_releases()]
    check(expected_version in tags, f"{expected_version} not listed in {tags}")

    assets = list(latest.get_assets())
    check(len(assets) > 0, "the latest release has no assets")
    check([a.id for a in assets] == [a.id for a in latest.assets], "assets list differs from release")
    if asset_name is None:
        check(len(assets) == 1, f"expected one asset, got {[a.name for a in assets]}")
        asset = assets[0]
    else:
        named = [a for a in assets if a.name == asset_name]
        check(len(named) == 1, f"asset {asset_name!r} not in {[a.name for a in assets]}")
        asset = named[0]
    digest = asset.digest if hasattr(type(asset), "digest") else asset.raw_data.get("digest")
    check(digest == expected_digest, f"asset digest {digest!r}, want {expected_digest!r}")
    check(asset.state == "uploaded", f"asset state {asset.state!r}")

    request = urllib.request.Request(asset.browser_download_url)
    if token:
        request.add_header("Authorization", f"token {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        data = response.read()
    check(len(data) == asset.size, f"downloaded {len(data)} bytes, asset size {asset.size}")
    check(sha256(data) == digest, f"browser_download_url bytes hash to {sha256(data)}")

    status, _, chunks = asset.download_asset(chunk_size=None)
    api_data = b"".join(chunks)
    check(status == 200, f"asset download status {status}")
    check(sha256(api_data) == digest, f"API download bytes hash to {sha256(api_data)}")

    try:
        repo.get_release("9.9.9")
        fail("an unknown tag was found")
    except github.UnknownObjectException:
        pass

    print(json.dumps({
        "latest": latest.tag_name,
        "tags": tags,
        "asset": {"id": asset.id, "name": asset.name, "size": asset.size, "digest": digest},
    }))


if __name__ == "__main__":
    main()
