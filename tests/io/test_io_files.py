"""Discovery, destination checks and atomic writes: what a run reads and where it writes."""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

import pytest

from understudy.errors import UsageError
from understudy.io.files import (
    TEMP_PREFIX,
    InputItem,
    atomic_write,
    check_destination,
    discover,
    remove_stale_temps,
)


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def inputs(sources: list[str], destination: str | None = None) -> list[InputItem]:
    """What a run processes: discovered items that are not merely listed as skipped."""
    return [i for i in discover(sources, destination) if i.skip is None]


def rel(items: list[InputItem]) -> list[str]:
    return [str(i.relative) for i in items]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    src = tmp_path / "photos"
    touch(src / "b.jpg")
    touch(src / "a.PNG")
    touch(src / "notes.txt")  # unknown extension inside a folder: listed as skipped
    touch(src / "sub" / "c.webp")
    touch(src / "sub" / "deeper" / "clip.mp4")
    touch(src / "sub" / "README")
    return src


def test_single_folder_maps_contents_directly_under_dst(tree: Path):
    items = list(inputs([str(tree)]))
    assert rel(items) == ["a.PNG", "b.jpg", "sub/c.webp", "sub/deeper/clip.mp4"]
    assert [i.kind for i in items] == ["image", "image", "image", "video"]
    assert all(i.error is None for i in items)
    assert items[0].path == tree / "a.PNG"
    # Deterministic: the same listing twice.
    assert rel(list(inputs([str(tree)]))) == rel(items)


def test_trailing_slash_and_dot_source(tree: Path, monkeypatch):
    assert rel(list(inputs([str(tree) + "/"]))) == rel(list(inputs([str(tree)])))
    monkeypatch.chdir(tree)
    items = list(inputs(["."]))
    assert rel(items)[0] == "a.PNG"
    # With several sources "." is named after the folder it resolves to.
    other = touch(tree.parent / "x.jpg")
    items = list(inputs([".", str(other)]))
    assert "photos/a.PNG" in rel(items) and "x.jpg" in rel(items)


def test_file_source_maps_to_its_name(tree: Path):
    items = list(inputs([str(tree / "sub" / "c.webp")]))
    assert rel(items) == ["c.webp"] and items[0].kind == "image" and items[0].error is None


def test_several_folders_each_get_their_name(tmp_path: Path, tree: Path):
    other = tmp_path / "more"
    touch(other / "z.bmp")
    single = touch(tmp_path / "one.tif")
    items = list(inputs([str(tree), str(other), str(single)]))
    assert rel(items) == ["photos/a.PNG", "photos/b.jpg", "photos/sub/c.webp",
                          "photos/sub/deeper/clip.mp4", "more/z.bmp", "one.tif"]


def test_explicit_file_with_unknown_extension_is_an_error_item(tree: Path):
    items = list(inputs([str(tree / "notes.txt")]))
    assert len(items) == 1 and items[0].error and "unknown file type '.txt'" in items[0].error


def test_missing_source_is_a_usage_error(tmp_path: Path, tree: Path):
    with pytest.raises(UsageError, match="does not exist"):
        list(inputs([str(tree), str(tmp_path / "nope")]))
    with pytest.raises(UsageError):
        list(inputs([]))


def test_colliding_outputs_are_reported_not_merged(tmp_path: Path):
    a = touch(tmp_path / "a" / "same.jpg")
    b = touch(tmp_path / "b" / "same.jpg")
    items = list(inputs([str(a), str(b)]))
    assert items[0].error is None
    assert items[1].error and "would overwrite" in items[1].error
    # The very same file given twice is one input, not a collision.
    assert len(list(inputs([str(a), str(a)]))) == 1


def test_dir_symlink_to_parent_is_a_loop_not_a_hang(tree: Path):
    os.symlink("..", tree / "sub" / "up")
    items = list(inputs([str(tree)]))
    loops = [i for i in items if i.error]
    assert [str(i.relative) for i in loops] == ["sub/up"]
    assert "symlink loop" in loops[0].error
    assert rel([i for i in items if not i.error]) == ["a.PNG", "b.jpg", "sub/c.webp",
                                                      "sub/deeper/clip.mp4"]


def test_file_symlink_to_itself(tree: Path):
    loop = tree / "loop.jpg"
    os.symlink("loop.jpg", loop)
    items = {str(i.relative): i for i in inputs([str(tree)])}
    assert items["loop.jpg"].error == "symlink loop"
    # Given explicitly it is an error item too, not a UsageError.
    (item,) = inputs([str(loop)])
    assert item.error == "symlink loop"


def test_symlinked_file_and_folder_are_followed(tmp_path: Path, tree: Path):
    elsewhere = tmp_path / "elsewhere"
    touch(elsewhere / "e.jpg")
    os.symlink(elsewhere, tree / "linked")
    os.symlink(tree / "b.jpg", tree / "b_link.jpg")
    os.symlink(tmp_path / "gone.jpg", tree / "dangling.jpg")
    items = {str(i.relative): i for i in inputs([str(tree)])}
    assert items["linked/e.jpg"].error is None
    assert items["b_link.jpg"].error is None
    assert items["dangling.jpg"].error.startswith("broken symlink")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can list any folder")
def test_unreadable_folder_is_an_error_item(tree: Path):
    locked = tree / "sub"
    locked.chmod(0)
    try:
        items = list(inputs([str(tree)]))
    finally:
        locked.chmod(stat.S_IRWXU)
    bad = [i for i in items if i.error]
    assert len(bad) == 1 and "permission denied" in bad[0].error


def test_unreadable_folder_code_path_as_root(tree: Path, monkeypatch):
    """Root ignores permissions, so make scandir refuse the folder as it would for a user."""
    real = os.scandir

    def scandir(path):
        if Path(path) == tree / "sub":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    items = list(inputs([str(tree)]))
    bad = [i for i in items if i.error]
    assert [str(i.relative) for i in bad] == ["sub"] and "permission denied" in bad[0].error
    assert rel([i for i in items if not i.error]) == ["a.PNG", "b.jpg"]


def test_spaces_and_unicode_in_paths(tmp_path: Path):
    src = tmp_path / "my photos ✓"
    touch(src / "fête d'été" / "Zoë 写真 1.JPG")
    (item,) = inputs([str(src)])
    assert item.relative == PurePosixPath("fête d'été/Zoë 写真 1.JPG")
    assert item.error is None and item.path.exists()


def test_check_destination(tmp_path: Path, tree: Path):
    f = tree / "b.jpg"
    for bad in [tree, tree / "out", tree / "sub" / "out"]:
        with pytest.raises(UsageError, match="inside input folder"):
            check_destination([str(tree)], str(bad))
    with pytest.raises(UsageError, match="is the input file"):
        check_destination([str(f)], str(f))
    with pytest.raises(UsageError, match="lies inside output folder"):
        check_destination([str(tree)], str(tmp_path))
    # A symlink to the source folder is the source folder.
    os.symlink(tree, tmp_path / "alias")
    with pytest.raises(UsageError):
        check_destination([str(tree)], str(tmp_path / "alias" / "out"))
    touch(tmp_path / "afile")
    with pytest.raises(UsageError, match="not a folder"):
        check_destination([str(tree)], str(tmp_path / "afile"))
    check_destination([str(tree)], str(tmp_path / "out"))  # fine
    check_destination([str(f)], str(tmp_path / "out"))
    # A sibling whose name starts like the source is not inside it.
    check_destination([str(tree)], str(tmp_path / "photos_anonymized"))


def test_atomic_write_replaces_whole_file(tmp_path: Path):
    target = tmp_path / "new" / "dir" / "out.jpg"
    atomic_write(target, lambda p: p.write_bytes(b"first"))
    assert target.read_bytes() == b"first"
    seen = []

    def write(p: Path) -> None:
        assert p.parent == target.parent and p.name.startswith(TEMP_PREFIX)
        assert p.suffix == ".jpg"  # writers infer the format from the extension
        seen.append(target.read_bytes())  # the old content is intact while writing
        p.write_bytes(b"second")

    atomic_write(target, write)
    assert seen == [b"first"] and target.read_bytes() == b"second"
    assert sorted(os.listdir(target.parent)) == ["out.jpg"]
    mode = stat.S_IMODE(target.stat().st_mode)
    assert mode & 0o044, f"output should be readable by others like any new file, got {oct(mode)}"


def test_atomic_write_failure_leaves_old_file_and_no_temp(tmp_path: Path):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")

    def fail(p: Path) -> None:
        p.write_bytes(b"half")
        raise RuntimeError("encoder crashed")

    with pytest.raises(RuntimeError):
        atomic_write(target, fail)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.png"]

    def interrupted(p: Path) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "other.png", interrupted)
    assert os.listdir(tmp_path) == ["out.png"]


def test_remove_stale_temps(tmp_path: Path):
    keep = touch(tmp_path / "a" / "done.jpg")
    stale = touch(tmp_path / "a" / f"{TEMP_PREFIX}1234abcd-x.jpg")
    removed = remove_stale_temps(tmp_path)
    assert removed == [stale] and keep.exists() and not stale.exists()
    assert remove_stale_temps(tmp_path / "missing") == []


def test_files_we_do_not_read_are_listed_as_skipped(tree: Path):
    skipped = {str(i.relative): i.skip for i in discover([str(tree)]) if i.skip}
    assert set(skipped) == {"notes.txt", "sub/README"}
    assert "(.txt)" in skipped["notes.txt"] and "no extension" in skipped["sub/README"]


def test_links_into_the_output_folder_are_not_followed(tmp_path: Path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    touch(src / "photo.jpg")
    touch(dst / "photo.jpg")  # an output of an earlier run
    (src / "zlink").symlink_to(dst, target_is_directory=True)
    items = list(discover([str(src)], str(dst)))
    assert rel([i for i in items if not i.skip]) == ["photo.jpg"]
    (link,) = [i for i in items if i.skip]
    assert str(link.relative) == "zlink" and "output folder" in link.skip


def test_safe_output_writes_through_no_link(tmp_path: Path):
    from understudy.errors import InputError
    from understudy.io.files import safe_output

    src, dst = tmp_path / "s", tmp_path / "d"
    touch(src / "sub" / "photo.jpg")
    dst.mkdir()
    (dst / "sub").symlink_to(Path("..") / "s" / "sub", target_is_directory=True)
    with pytest.raises(InputError, match="symlink"):
        safe_output(dst, PurePosixPath("sub/photo.jpg"), [str(src)])
    (dst / "x.jpg").symlink_to(src / "sub" / "photo.jpg")
    with pytest.raises(InputError, match="symlink"):
        safe_output(dst, PurePosixPath("x.jpg"), [str(src)])
    # DST itself may be a link, but not into a source.
    assert safe_output(dst, PurePosixPath("new/y.jpg"), [str(src)]) == dst / "new" / "y.jpg"
    # The first output of a run may come before DST exists (a sweep writes DST/as_0/...).
    fresh = tmp_path / "fresh"
    assert safe_output(fresh, PurePosixPath("as_0/y.jpg"), [str(src)]).parent.is_dir()
    with pytest.raises(InputError, match="inside input"):
        safe_output(src, PurePosixPath("sub/other.jpg"), [str(src)])
