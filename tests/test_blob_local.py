"""The ``file://`` fast path (``os.scandir``, :mod:`lethe.stores.blob.local`) against the
generic path through obstore's LocalStore (:class:`BlobDataset`), on generated trees: random
names (``#``, ``%``, spaces, accents, unfinished-upload suffixes), modification times on and
around the cutoff's microsecond and before 1970, symbolic links to files, to directories and
to nothing, FIFOs, empty directories. Both must list the same objects with the same columns,
judge the same files due, held and unreadable, and leave the same tree after deleting."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from obstore.store import LocalStore

from lethe import Lethe
from lethe.config.datasets import DatasetConfig
from lethe.errors import StoreError
from lethe.model.conditions import After, All, Any_, Before, Condition, Equals, Not, columns_of
from lethe.model.keys import key_text
from lethe.stores.blob.dataset import BlobDataset
from lethe.stores.blob.local import LocalDataset, bounds_decide, mtime_bounds
from lethe.stores.listed import ListedDataset

T = TypeVar("T")
NOW = datetime(2026, 1, 15, 3, 0, tzinfo=UTC)
CUTOFF = NOW - timedelta(hours=24)
CUTOFF_NS = (CUTOFF - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000
PREFIXES = ["b/", "up/"]

segment = st.text(st.sampled_from("abcXZ019 .-_%#~é"), min_size=1, max_size=5).filter(
    lambda s: s not in (".", "..")
)
staged = st.tuples(segment, st.integers(0, 99)).map(lambda p: f"{p[0]}#{p[1]}")
name = st.one_of(segment, segment, segment, staged)
place = st.tuples(st.sampled_from(["up", "up", "b", "other"]), st.lists(name, max_size=2), name)
mtime = st.one_of(
    st.integers(-3, 3).map(lambda d: CUTOFF_NS + d),  # around the cutoff's nanosecond
    st.sampled_from([-1000, -999, 999, 1000, 1001]).map(lambda d: CUTOFF_NS + d),
    st.integers(-(10**14), 10**14).map(lambda d: CUTOFF_NS + d),  # ±28 hours
    st.sampled_from([-86_400 * 10**9 - 1, -1, 0, 1_500]),  # before and at the epoch
)
kind = st.sampled_from(
    ["file"] * 6 + ["dir", "link-file", "link-dir", "broken", "self-link", "fifo"]
)
entry = st.tuples(place, kind, mtime, mtime)
trees = st.lists(entry, max_size=25)


Tree = list[tuple[tuple[str, list[str], str], str, int, int]]


def build(root: Path, tree: Tree, fifos: bool = True) -> None:
    """Create ``tree`` under ``root``; an entry whose place clashes with an earlier one is
    left out. Links point into ``root/other`` or at files created earlier."""
    (root / "other" / "dir").mkdir(parents=True)
    (root / "other" / "dir" / "inner.txt").write_bytes(b"in")
    (root / "other" / "target").write_bytes(b"target")
    files = [root / "other" / "target"]
    for (top, middle, last), what, own, target in tree:
        path = root.joinpath(top, *middle, last)
        if os.path.lexists(path):
            continue  # writing to an earlier FIFO would block
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if what == "file":
                path.write_bytes(b"x" * (len(files) % 3))
                files.append(path)
            elif what == "dir":
                path.mkdir()
            elif what == "fifo" and fifos:
                os.mkfifo(path)
            elif what == "fifo":
                continue
            elif what == "link-file":
                os.utime(files[-1], ns=(target, target))
                path.symlink_to(files[-1])
            elif what == "link-dir":
                path.symlink_to(root / "other" / "dir")
            elif what == "self-link":
                path.symlink_to(path)
            else:
                path.symlink_to(root / "other" / "nowhere")
            os.utime(path, ns=(own, own), follow_symlinks=False)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            continue


def datasets(root: Path) -> tuple[BlobDataset, LocalDataset]:
    config = DatasetConfig(prefixes=PREFIXES, retain="24h")
    store = LocalStore(str(root), automatic_cleanup=True)
    generic = BlobDataset("items", config, store, True, "store s")
    return generic, LocalDataset("items", config, store, str(root), "store s")


@contextmanager
def tree_at(tree: Tree, fifos: bool = True) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "storage"
        root.mkdir()
        build(root, tree, fifos)
        yield root


instant = st.integers(-3, 3).map(lambda d: CUTOFF + timedelta(microseconds=d))
conditions = st.one_of(
    st.builds(Before, st.just("last_modified"), instant, st.booleans()),
    st.builds(
        lambda before, extra: All((before, extra)),
        st.builds(Before, st.just("last_modified"), instant, st.booleans()),
        st.one_of(
            st.builds(
                After,
                st.just("last_modified"),
                instant.map(lambda t: t - timedelta(hours=20)),
                st.booleans(),
            ),
            st.builds(Equals, st.just("size"), st.integers(0, 2)),
            st.builds(Not, st.builds(Equals, st.just("size"), st.integers(0, 2))),
            st.builds(
                lambda t: Any_((Before("last_modified", t), Equals("size", 1))),
                instant.map(lambda t: t - timedelta(hours=2)),
            ),
        ),
    ),
    st.builds(Any_, st.tuples(st.builds(Before, st.just("last_modified"), instant))),
    st.just(All((Before("metadata.created", CUTOFF),))),  # no metadata locally: unreadable
)


def listed(ds: BlobDataset, condition: Condition, after: str | None) -> list[tuple[str, bool]]:
    return [(key_text(i.key), i.unreadable) for i in ds.judged(condition, after)]


def outcome(read: Callable[[], T]) -> T | str:
    """What ``read`` returns, or that it failed the way a listing fails (a link to itself)."""
    try:
        return read()
    except StoreError:
        return "StoreError"


@settings(max_examples=60, deadline=None)
@given(
    tree=trees, condition=conditions, probe=st.lists(st.tuples(place, st.booleans()), max_size=6)
)
def test_the_fast_path_lists_and_judges_what_obstore_does(
    tree: Tree,
    condition: Condition,
    probe: list[tuple[tuple[str, list[str], str], bool]],
) -> None:
    # obstore's HEAD (metadata) opens the file: on a FIFO it would block the oracle
    with tree_at(tree, fifos="metadata.created" not in columns_of(condition)) as root:
        generic, local = datasets(root)
        columns = {"key", "size", "e_tag", "last_modified"}
        rows = outcome(lambda: list(generic.rows(columns, None)))
        assert outcome(lambda: list(local.rows(columns, None))) == rows
        assert outcome(local.table_sizes) == outcome(generic.table_sizes)
        assert outcome(lambda: local.count(condition)) == outcome(lambda: generic.count(condition))
        if isinstance(rows, str):
            return  # both listings failed; the rest would fail the same way
        keys = [key for key, _ in rows]
        for after in [None, *keys[:: max(1, len(keys) // 3)]]:
            assert listed(local, condition, after) == listed(generic, condition, after)
        # rows_for: listed keys, keys of directories, of links, of unfinished uploads, absent
        asked = keys[::2] + [
            "/".join([p[0], *p[1], p[2]]) + ("/" if slash else "") for p, slash in probe
        ]
        assert local.rows_for(asked, columns) == generic.rows_for(asked, columns)
        assert local.verdicts_for(condition, asked) == generic.verdicts_for(condition, asked)


bound = st.builds(
    lambda cls, t, inclusive: cls("last_modified", t, inclusive),
    st.sampled_from([Before, After]),
    st.one_of(instant, instant.map(lambda t: t - timedelta(hours=20))),
    st.booleans(),
)
#: Conditions the bounds decide alone (nested conjunctions of comparisons of the file time,
#: the empty one included), and the others, which are judged row by row.
bound_conditions = st.recursive(
    bound, lambda parts: st.lists(parts, max_size=3).map(lambda ps: All(tuple(ps))), max_leaves=4
)


@settings(max_examples=60, deadline=None)
@given(tree=trees, condition=st.one_of(bound_conditions, conditions), data=st.data())
def test_the_fast_path_judges_what_the_general_listed_path_does(
    tree: Tree, condition: Condition, data: st.DataObject
) -> None:
    """The walk's own judging (bounds on the stat, rows only where they do not decide) selects
    the files, flagged the same, that the general path selects by judging every listed row."""
    with tree_at(tree, fifos="metadata.created" not in columns_of(condition)) as root:
        _, local = datasets(root)
        general = outcome(lambda: listed_generally(local, condition, None))
        assert outcome(lambda: listed(local, condition, None)) == general
        if isinstance(general, str) or not general:
            return
        after = data.draw(st.sampled_from([key for key, _ in general]))
        assert listed(local, condition, after) == listed_generally(local, condition, after)


def listed_generally(
    ds: LocalDataset, condition: Condition, after: str | None
) -> list[tuple[str, bool]]:
    return [(key_text(i.key), i.unreadable) for i in ListedDataset.judged(ds, condition, after)]


def test_only_comparisons_of_the_file_time_are_decided_by_the_bounds() -> None:
    t = CUTOFF
    assert bounds_decide(Before("last_modified", t))
    assert bounds_decide(All((After("last_modified", t), All((Before("last_modified", t),)))))
    assert bounds_decide(All(()))
    assert not bounds_decide(All((Before("last_modified", t), Equals("size", 1))))
    assert not bounds_decide(Any_((Before("last_modified", t),)))
    assert not bounds_decide(Before("last_modified", t.replace(tzinfo=None)))
    assert not bounds_decide(Before("metadata.created", t))


def shape(root: Path) -> list[tuple[str, str]]:
    """Every path under ``root`` with what it is (a link's target left out: they differ)."""
    found = []
    for path in sorted(root.rglob("*")):
        what = "link" if path.is_symlink() else "dir" if path.is_dir() else "other"
        found.append((str(path.relative_to(root)), what))
    return found


@settings(max_examples=30, deadline=None)
@given(tree=trees, instant=instant)
def test_deleting_leaves_the_tree_obstore_would(tree: Tree, instant: datetime) -> None:
    with tree_at(tree) as first, tree_at(tree) as second:
        generic, _ = datasets(first)
        _, local = datasets(second)
        condition = Before("last_modified", instant)
        due = outcome(lambda: [key_text(i.key) for i in generic.judged(condition, None)])
        assert outcome(lambda: [key_text(i.key) for i in local.judged(condition, None)]) == due
        if isinstance(due, str):
            return
        assert local.remove(due) == generic.remove(due) == {}
        assert shape(second) == shape(first)


@settings(max_examples=25, deadline=None)
@given(tree=trees, held=st.lists(st.integers(0, 30), max_size=4), metadata=st.booleans())
def test_a_plan_on_the_fast_path_is_the_generic_judgement_less_the_holds(
    tree: Tree,
    held: list[int],
    metadata: bool,
) -> None:
    age = 'age_column = "metadata.created"\n' if metadata else ""
    with tree_at(tree, fifos=not metadata) as root:
        generic, _ = datasets(root)
        policy = (
            f'[state]\nurl = "sqlite:///{root.parent}/state.db"\nruns_dir = ""\n'
            f'[stores.s]\nurl = "file://{root}"\n'
            f'[datasets.items]\nprefixes = {PREFIXES!r}\nretain = "24h"\n{age}'
            '[policies.purge]\ndataset = "items"\n[[policies.purge.actions]]\ntype = "purge"\n'
        ).replace("'", '"')
        with Lethe.from_toml(policy, base_dir=root.parent, env={}) as lethe:
            selection = lethe.runtime.target("purge").selection(0, NOW)
            judged = outcome(lambda: listed(generic, selection, None))
            if isinstance(judged, str):
                with pytest.raises(StoreError):
                    lethe.plan(as_of=NOW)
                return
            holds = {judged[n % len(judged)][0] for n in held} if judged else set()
            for key in holds:
                lethe.holds.add("items", key, "hold", "test")
            phase = lethe.plan(as_of=NOW).phases[0]
        # holds beat everything, unreadable ones included (lethe.engine.decisions.partition)
        assert sorted(map(str, phase.held)) == sorted(k for k, _ in judged if k in holds)
        assert sorted(map(str, phase.unreadable)) == sorted(
            k for k, bad in judged if bad and k not in holds
        )
        assert sorted(map(str, phase.keys)) == sorted(
            k for k, bad in judged if not bad and k not in holds
        )


@pytest.mark.parametrize(
    "odd", ["tab\there", "new\nline", "del\x7f", os.fsdecode(b"latin\xe9")], ids=repr
)
def test_a_name_obstore_cannot_list_fails_both_listings(odd: str, tmp_path: Path) -> None:
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "fine.txt").write_bytes(b"x")
    (tmp_path / "up" / odd).write_bytes(b"x")
    for ds in datasets(tmp_path):
        with pytest.raises(StoreError, match="store s"):
            list(ds.judged(Before("last_modified", NOW), None))


def test_a_link_to_an_ancestor_fails_both_listings(tmp_path: Path) -> None:
    (tmp_path / "up" / "a").mkdir(parents=True)
    (tmp_path / "up" / "a" / "f").write_bytes(b"x")
    (tmp_path / "up" / "a" / "loop").symlink_to(tmp_path / "up")
    for ds in datasets(tmp_path):
        with pytest.raises(StoreError, match="store s"):
            list(ds.judged(Before("last_modified", NOW), None))


def test_bounds_come_only_from_what_every_selected_file_must_pass() -> None:
    t = CUTOFF
    assert mtime_bounds(Before("last_modified", t)) == (-(1 << 80), CUTOFF_NS + 1000)
    assert mtime_bounds(Before("last_modified", t, inclusive=False))[1] == CUTOFF_NS
    assert mtime_bounds(All((After("last_modified", t), Before("size", t)))) == (
        CUTOFF_NS + 1000,
        1 << 80,
    )
    unbounded = (-(1 << 80), 1 << 80)
    assert mtime_bounds(Any_((Before("last_modified", t),))) == unbounded
    assert mtime_bounds(Not(Before("last_modified", t))) == unbounded
    assert mtime_bounds(Before("last_modified", t.replace(tzinfo=None))) == unbounded


def test_metadata_on_a_fifo_is_read_without_opening_it(tmp_path: Path) -> None:
    (tmp_path / "up").mkdir()
    os.mkfifo(tmp_path / "up" / "pipe")
    _, local = datasets(tmp_path)
    condition = Before("metadata.created", NOW)
    assert [(key_text(i.key), i.unreadable) for i in local.judged(condition, None)] == [
        ("up/pipe", True)
    ]
