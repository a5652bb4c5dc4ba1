"""files.py on a real file system: which paths may be read, and where a new file may go."""

from __future__ import annotations

import os

import pytest

from routerls.files import FileRefused, new_file_target, read_text, write_new


@pytest.fixture
def ws(tmp_path):
    root = tmp_path / "ws"
    (root / "pkg").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    return root


@pytest.mark.parametrize("path", ["../outside/test_x.py", "pkg/../../outside/test_x.py", "/tmp/routerls-no-such-dir/test_x.py",
                                  "{outside}/test_x.py"])
def test_dot_dot_and_absolute_paths_out_of_the_root_are_refused(ws, path):
    path = path.format(outside=ws.parent / "outside")
    with pytest.raises(FileRefused, match="outside the workspace"):
        new_file_target(path, ws)
    assert list((ws.parent / "outside").iterdir()) == []


def test_a_link_chain_that_leaves_the_root_is_followed_and_refused(ws):
    (ws / "hop").symlink_to(ws / "pkg")
    (ws / "pkg" / "out").symlink_to(ws.parent / "outside")
    with pytest.raises(FileRefused, match="outside the workspace"):
        write_new(ws / "hop" / "out" / "tests" / "test_x.py", "x = 1\n", ws)
    assert list((ws.parent / "outside").iterdir()) == []


def test_dangling_links_and_existing_files_are_refused(ws):
    (ws / "pkg" / "test_a.py").symlink_to(ws / "pkg" / "nowhere.py")  # dangling, even inside
    with pytest.raises(FileRefused, match="dangling symlink"):
        new_file_target(ws / "pkg" / "test_a.py", ws)
    (ws / "pkg" / "test_b.py").write_text("keep\n")
    with pytest.raises(FileRefused, match="already exists"):
        write_new(ws / "pkg" / "test_b.py", "x\n", ws)
    assert (ws / "pkg" / "test_b.py").read_text() == "keep\n"


def test_a_new_file_inside_is_created_with_its_folders_and_line_endings(ws):
    real = write_new(ws / "pkg" / "tests" / "deep" / "test_c.py", "a = 1\r\nb = 2\r\n", ws)
    assert real == (ws / "pkg" / "tests" / "deep" / "test_c.py").resolve()
    assert real.read_bytes() == b"a = 1\r\nb = 2\r\n"


def test_reads_are_bounded_and_regular_files_only(ws):
    (ws / "a.py").write_text("x = 1\n")
    assert read_text(ws / "a.py", root=ws) == "x = 1\n"
    with pytest.raises(FileRefused, match="over the 3-byte limit"):
        read_text(ws / "a.py", root=ws, max_bytes=3)
    os.mkfifo(ws / "fifo")
    with pytest.raises(FileRefused, match="not a regular file"):
        read_text(ws / "fifo", root=ws)  # opened without blocking: no writer needed
    with pytest.raises(FileRefused, match="not a regular file"):
        read_text("/dev/zero", root="/dev")
    (ws / "bin.py").write_bytes(b"\xff\xfe")
    with pytest.raises(FileRefused, match="not UTF-8"):
        read_text(ws / "bin.py", root=ws)
