from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from labelwise.embed.store import EmbeddingStore
from labelwise.errors import LabelwiseError


def key(i: int) -> str:
    return hashlib.blake2b(str(i).encode(), digest_size=32).hexdigest()


def vector(i: int, dim: int = 8) -> np.ndarray:
    return np.random.default_rng(i).normal(size=dim).astype(np.float32)


def test_add_get_reopen_and_skip_known(tmp_path):
    store = EmbeddingStore(tmp_path, 8, "test")
    assert store.add([key(i) for i in range(5)], np.stack([vector(i) for i in range(5)])) == 5
    assert store.add([key(3), key(5)], np.stack([vector(3), vector(5)])) == 1  # 3 is known
    reopened = EmbeddingStore(tmp_path, 8, "test")
    assert len(reopened) == 6 and key(5) in reopened
    np.testing.assert_array_equal(reopened.get([key(5), key(0)]), np.stack([vector(5), vector(0)]))
    assert isinstance(reopened.vectors(), np.memmap)
    with pytest.raises(KeyError, match=key(99)):
        reopened.get([key(99)])


def test_keys_ending_in_zero_bytes_survive_a_reopen(tmp_path):
    zero_tail = "ab" * 31 + "00"
    EmbeddingStore(tmp_path, 4, "test").add([zero_tail], np.ones((1, 4)))
    assert zero_tail in EmbeddingStore(tmp_path, 4, "test")


def test_dimension_or_backbone_mismatch_is_refused(tmp_path):
    EmbeddingStore(tmp_path, 8, "test")
    with pytest.raises(LabelwiseError, match="holds test vectors of dim 8"):
        EmbeddingStore(tmp_path, 16, "other")


def test_torn_tails_are_cut_at_open(tmp_path):
    store = EmbeddingStore(tmp_path, 8, "test")
    store.add([key(i) for i in range(3)], np.stack([vector(i) for i in range(3)]))
    with open(tmp_path / "vectors.f32", "ab") as f:
        f.write(vector(3).tobytes() + b"\x01\x02")  # a vector without key, then half a vector
    with open(tmp_path / "keys.bin", "ab") as f:
        f.write(b"\x07" * 10)  # a torn key
    reopened = EmbeddingStore(tmp_path, 8, "test")
    assert len(reopened) == 3
    assert reopened.add([key(3)], vector(3)[None]) == 1
    np.testing.assert_array_equal(EmbeddingStore(tmp_path, 8, "test").get([key(3)]), vector(3)[None])


WRITER = """
import sys, hashlib, numpy as np
from labelwise.embed.store import EmbeddingStore
store = EmbeddingStore(sys.argv[1], 64, "test")
i = len(store)
while True:
    keys = [hashlib.blake2b(str(j).encode(), digest_size=32).hexdigest() for j in range(i, i + 16)]
    store.add(keys, np.stack([np.random.default_rng(j).normal(size=64).astype(np.float32) for j in range(i, i + 16)]))
    i += 16
    print(i, flush=True)
"""


def test_sigkill_during_writes_leaves_a_store_that_opens_and_resumes(tmp_path):
    for round_ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(5 + 7 * round_):
            proc.stdout.readline()
        time.sleep(0.003 * round_)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        store = EmbeddingStore(tmp_path, 64, "test")
        n = len(store)
        assert n > 0
        # Every key present has exactly its own vector: nothing torn, nothing shifted.
        rows = store.get([key(i) for i in range(n)])
        expected = np.stack([np.random.default_rng(i).normal(size=64).astype(np.float32) for i in range(n)])
        np.testing.assert_array_equal(rows, expected)


def test_opening_never_cuts_a_batch_in_flight(tmp_path):
    writer = EmbeddingStore(tmp_path, 8, "test")
    writer.add([key(0)], vector(0)[None])
    # Another process's batch between its vectors and its keys: a reader opening now must leave it.
    with open(tmp_path / "vectors.f32", "ab") as f:
        f.write(np.stack([vector(1), vector(2)]).tobytes())
    size = (tmp_path / "vectors.f32").stat().st_size
    reader = EmbeddingStore(tmp_path, 8, "test")
    assert len(reader) == 1 and (tmp_path / "vectors.f32").stat().st_size == size
    with open(tmp_path / "keys.bin", "ab") as f:
        f.write(bytes.fromhex(key(1)) + bytes.fromhex(key(2)))
    # The reader finds rows written after it opened without reopening.
    np.testing.assert_array_equal(reader.get([key(2), key(1)]), np.stack([vector(2), vector(1)]))


def test_two_writers_each_append_after_the_other(tmp_path):
    first, second = EmbeddingStore(tmp_path, 8, "test"), EmbeddingStore(tmp_path, 8, "test")
    first.add([key(0), key(1)], np.stack([vector(0), vector(1)]))
    assert second.add([key(1), key(2)], np.stack([vector(1), vector(2)])) == 1  # key 1 is known by now
    first.add([key(3)], vector(3)[None])
    store = EmbeddingStore(tmp_path, 8, "test")
    assert len(store) == 4
    np.testing.assert_array_equal(store.get([key(i) for i in range(4)]), np.stack([vector(i) for i in range(4)]))


def test_replace_supersedes_a_wrong_vector(tmp_path):
    store = EmbeddingStore(tmp_path, 8, "test")
    store.add([key(0), key(1)], np.stack([vector(5), vector(1)]))  # key 0 got another image's vector
    assert store.add([key(0)], vector(0)[None], replace=True) == 1
    reopened = EmbeddingStore(tmp_path, 8, "test")
    np.testing.assert_array_equal(reopened.get([key(0), key(1)]), np.stack([vector(0), vector(1)]))
    assert reopened.duplicate_keys() == 1 and sorted(reopened.keys()) == sorted([key(0), key(1)])


def test_lazy_rows_read_what_get_reads_in_runs_and_out_of_order(tmp_path):
    store = EmbeddingStore(tmp_path / "emb", 8, "squeezenet")
    keys = [hashlib.blake2b(str(i).encode(), digest_size=32).hexdigest() for i in range(50)]
    store.add(keys, np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32))
    for chosen in (keys, keys[10:30], keys[::-3], [keys[5], keys[2], keys[40]]):
        lazy = store.lazy(chosen)
        assert lazy.shape == (len(chosen), 8)
        np.testing.assert_array_equal(np.asarray(lazy), store.get(chosen))
        np.testing.assert_array_equal(lazy[3:7], store.get(chosen[3:7]))
        np.testing.assert_array_equal(lazy[np.array([2, 0])], store.get([chosen[2], chosen[0]]))
