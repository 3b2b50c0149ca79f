"""The log store (observe/log_store.py): events as lines, Lambda's stream names kept exactly, the size cap
and the retention sweep (with a clock the test moves)."""

from __future__ import annotations

from stratus.observe.log_store import MAX_EVENT_BYTES, LogStore, split_lines

STREAM = "2026/12/07/[$LATEST]0123456789abcdef0123456789abcdef"


class Clock:
    def __init__(self, now: int = 1_000_000_000_000):
        self.now = now

    def __call__(self) -> int:
        return self.now


def _store(tmp_path, **options) -> LogStore:
    return LogStore(tmp_path / "logs.db", flush_interval_s=60, sweep_interval_s=3600, **options)


def _messages(store: LogStore, group: str) -> list[str]:
    found = store.group(group)
    return [] if found is None else [row.message for row in store.events(found.id, None, 0, 1 << 62, limit=10_000)]


def test_lines_are_events_and_names_are_kept(tmp_path):
    assert split_lines(b"a\nb\r\nc") == ["a\n", "b\r\n", "c"]
    assert [len(piece) for piece in split_lines(b"x" * (MAX_EVENT_BYTES + 5))] == [MAX_EVENT_BYTES, 5]
    store = _store(tmp_path)
    try:
        store.write("/aws/lambda/fn", STREAM, b"START\nhello\n")
        store.write("/custom/group", "s", b"other\n")
        group = store.group("/aws/lambda/fn")
        assert group is not None and group.stored_bytes == len("START\nhello\n")
        assert [stream.name for stream in store.streams(group.id)] == [STREAM]  # exactly as Lambda names it
        assert _messages(store, "/aws/lambda/fn") == ["START\n", "hello\n"]
        assert [g.name for g in store.groups()] == ["/aws/lambda/fn", "/custom/group"]
        assert [g.name for g in store.groups(prefix="/custom")] == ["/custom/group"]
    finally:
        store.close()
    reopened = _store(tmp_path)  # durable
    try:
        assert _messages(reopened, "/aws/lambda/fn") == ["START\n", "hello\n"]
    finally:
        reopened.close()


def test_the_size_cap_drops_the_oldest_events_first(tmp_path):
    store = _store(tmp_path, max_bytes=2_000)
    try:
        for number in range(50):
            store.write("/aws/lambda/fn", STREAM, f"line {number:04d} ".encode() + b"x" * 90 + b"\n")
            store.flush()
        messages = _messages(store, "/aws/lambda/fn")
        assert sum(len(message) for message in messages) <= 2_000
        assert messages[-1].startswith("line 0049") and not messages[0].startswith("line 0000")
        numbers = [int(message.split()[1]) for message in messages]
        assert numbers == list(range(numbers[0], 50))  # a contiguous run of the newest
        group = store.group("/aws/lambda/fn")
        assert group is not None and group.stored_bytes == sum(len(message) for message in messages)
    finally:
        store.close()


def test_retention_deletes_events_older_than_the_groups_days(tmp_path):
    clock = Clock()
    store = _store(tmp_path, day_s=10, clock=clock)  # a "day" of 10 s
    try:
        store.write("/aws/lambda/fn", STREAM, b"old\n")
        store.write("/aws/lambda/other", STREAM, b"kept: no retention\n")
        clock.now += 8_000
        store.write("/aws/lambda/fn", STREAM, b"new\n")
        assert store.set_retention("/aws/lambda/fn", 1)
        clock.now += 4_000  # "old" is 12 s old, "new" 4 s
        store.sweep()
        assert _messages(store, "/aws/lambda/fn") == ["new\n"]
        assert _messages(store, "/aws/lambda/other") == ["kept: no retention\n"]
        group = store.group("/aws/lambda/fn")
        assert group is not None and group.stored_bytes == 4
        (stream,) = store.streams(group.id)
        assert stream.first_event == clock.now - 4_000
    finally:
        store.close()
