"""Which files a release is built from (``provisioning.release.build.checkout_files``).

The demo stages its broken release as a copy under the checkout's ignored ``var/``; that
copy is inside the checkout's git work tree, where git lists none of its files, and the
release came out empty (``sohoa demo`` from a fresh clone: the agent died building it).
"""

from __future__ import annotations

import subprocess

from provisioning.release.build import checkout_files, copy_checkout


def _git(repo, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_a_copy_inside_an_ignored_folder_of_a_checkout_keeps_its_files(tmp_path):
    repo = tmp_path / "checkout"
    (repo / "firmware").mkdir(parents=True)
    (repo / "firmware" / "__init__.py").write_text('__version__ = "0.1.0"\n')
    (repo / ".gitignore").write_text("var/\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    (repo / "var" / "cache").mkdir(parents=True)
    (repo / "var" / "cache" / "junk.bin").write_bytes(b"x")
    assert checkout_files(repo) == [".gitignore", "firmware/__init__.py"]  # git decides here

    copy = copy_checkout(repo, repo / "var" / "staging" / "src")
    assert checkout_files(copy) == [".gitignore", "firmware/__init__.py"]
