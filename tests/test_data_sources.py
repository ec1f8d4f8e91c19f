"""Downloads and archives: checksums (hashlib reference), the manifest, safe extraction, .deb reading,
and the clear errors when a package / URL cannot be had. No test here touches the network."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from lpa_utils.data import sources as S
from lpa_utils.data.errors import ChecksumError, DataError, DataUnavailableError


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LPA_DATA", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_file_digests_match_hashlib(tmp_path):
    data = bytes(range(256)) * 5000
    p = tmp_path / "f.bin"
    p.write_bytes(data)
    d = S.file_digests(p, ["md5", "sha1"])
    assert d == {"sha256": _sha(data), "md5": hashlib.md5(data).hexdigest(), "sha1": hashlib.sha1(data).hexdigest()}


def test_ensure_uses_a_file_put_by_hand_and_records_it(cache):
    data = b"hello wheel"
    src = S.PipSource("some-pkg", "1.0", "some_pkg-1.0-py3-none-any.whl", _sha(data))
    (cache / "downloads").mkdir(parents=True)
    (cache / "downloads" / src.filename).write_bytes(data)
    p = S.ensure(src, quiet=True)
    assert p.read_bytes() == data
    rec = S.read_manifest()[src.filename]
    assert rec["sha256"] == _sha(data) and rec["size"] == len(data) and "some-pkg==1.0" in rec["source"]


def test_checksum_mismatch_names_the_file(cache):
    src = S.PipSource("some-pkg", "1.0", "some_pkg-1.0.whl", "0" * 64)
    (cache / "downloads").mkdir(parents=True)
    f = cache / "downloads" / src.filename
    f.write_bytes(b"not what was pinned")
    with pytest.raises(ChecksumError) as e:
        S.ensure(src, quiet=True)
    msg = str(e.value)
    assert str(f) in msg and "sha256 checksum mismatch" in msg and _sha(b"not what was pinned") in msg
    # an md5 published instead of a sha256 is checked too
    src2 = S.UrlSource("http://example.invalid/x.zip", "x.zip", checksums={"md5": "0" * 32})
    (cache / "downloads" / "x.zip").write_bytes(b"zip")
    with pytest.raises(ChecksumError, match="md5 checksum mismatch"):
        S.verify(cache / "downloads" / "x.zip", src2)


def test_unpinned_checksum_is_recorded_then_enforced(cache, capsys):
    src = S.UrlSource("http://example.invalid/data.txt", "data.txt")
    (cache / "downloads").mkdir(parents=True)
    f = cache / "downloads" / "data.txt"
    f.write_bytes(b"v1")
    assert S.verify(f, src) == _sha(b"v1")
    assert "recorded sha256 of data.txt" in capsys.readouterr().out
    f.write_bytes(b"v2")  # the same name, other content: refused
    with pytest.raises(ChecksumError):
        S.verify(f, src)


def test_pip_failure_is_a_clear_offline_error(cache, monkeypatch):
    def fake_run(cmd, **kw):
        assert cmd[1:5] == ["-m", "pip", "download", "--no-deps"]
        return subprocess.CompletedProcess(
            cmd,
            1,
            "",
            "ERROR: Could not find a version that satisfies the requirement no-such-pkg==9.9 (from versions: none)",
        )

    monkeypatch.setattr(S.subprocess, "run", fake_run)
    src = S.PipSource("no-such-pkg", "9.9", "no_such_pkg-9.9-py3-none-any.whl", "0" * 64)
    with pytest.raises(DataUnavailableError) as e:
        S.ensure(src, quiet=True)
    msg = str(e.value)
    assert "no-such-pkg==9.9" in msg and "pip download --no-deps no-such-pkg==9.9" in msg
    assert str(cache / "downloads") in msg and "Could not find a version" in msg


def test_missing_apt_get_is_a_clear_error(cache, monkeypatch):
    monkeypatch.setattr(S.shutil, "which", lambda name: None)
    src = S.AptSource("dict-freedict-eng-xxx", "1.0", "dict-freedict-eng-xxx_1.0_all.deb", "0" * 64)
    with pytest.raises(DataUnavailableError, match="apt-get is not available.*dict-freedict-eng-xxx"):
        S.ensure(src, quiet=True)


def test_offline_url_names_the_url_and_where_to_put_the_file(cache):
    url = "http://127.0.0.1:9/transmat.zip"  # nothing listens on the discard port
    src = S.UrlSource(url, "transmat.zip")
    with pytest.raises(DataUnavailableError) as e:
        S.ensure(src, quiet=True)
    msg = str(e.value)
    assert url in msg and "needs the network" in msg and str(cache / "downloads" / "transmat.zip") in msg
    assert not (cache / "downloads" / "transmat.zip").exists()  # nothing half-written


def test_url_download_progress_and_atomic(tmp_path):
    src = tmp_path / "remote.bin"
    src.write_bytes(b"x" * 3_000_000)
    dest = tmp_path / "out" / "local.bin"
    S.url_download(src.as_uri(), dest, quiet=True)
    assert dest.read_bytes() == src.read_bytes()
    assert [p.name for p in dest.parent.iterdir()] == ["local.bin"]


# ----------------------------------------------------------------------------------------------- archives
def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _tar(path: Path, members: dict[str, bytes], mode="w:gz", link: str | None = None) -> Path:
    with tarfile.open(path, mode) as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            t.addfile(info)
    return path


def test_safe_extract_zip_and_tar(tmp_path):
    z = _zip(tmp_path / "a.whl", {"pkg/model/a.txt": b"A", "pkg/model/sub/b.txt": b"B", "pkg/other.py": b"x"})
    out = S.safe_extract(z, tmp_path / "m", prefix="pkg/model/")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == ["a.txt", "sub/b.txt"]
    t = _tar(tmp_path / "a.tar.gz", {"pkg-1/data/x.jsonl": b"{}\n", "pkg-1/setup.py": b""})
    assert S.read_member(t, "pkg-1/data/x.jsonl") == b"{}\n"
    assert S.list_members(t) == ["pkg-1/data/x.jsonl", "pkg-1/setup.py"]
    with pytest.raises(DataError, match="member 'nope' not found"):
        S.read_member(t, "nope")


@pytest.mark.parametrize("evil", ["../escape.txt", "/abs/escape.txt", "a/../../escape.txt"])
def test_safe_extract_rejects_path_escapes(tmp_path, evil):
    z = _zip(tmp_path / "evil.zip", {"ok.txt": b"fine", evil: b"boo"})
    with pytest.raises(DataError, match="outside the target folder") as e:
        S.safe_extract(z, tmp_path / "out")
    assert str(z) in str(e.value)
    assert not (tmp_path / "out").exists() and not (tmp_path / "escape.txt").exists()
    t = _tar(tmp_path / "evil.tar.gz", {"ok.txt": b"fine", evil: b"boo"})
    with pytest.raises(DataError, match="outside the target folder"):
        S.safe_extract(t, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


def test_safe_extract_rejects_links(tmp_path):
    t = _tar(tmp_path / "link.tar.gz", {"ok.txt": b"fine"}, link="passwd")
    with pytest.raises(DataError, match="link"):
        S.safe_extract(t, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _deb(path: Path, members: dict[str, bytes]) -> Path:
    """A minimal .deb: an ar archive with debian-binary, control.tar.xz, data.tar.xz."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:xz") as t:
        for name, blob in members.items():
            info = tarfile.TarInfo("./" + name)
            info.size = len(blob)
            t.addfile(info, io.BytesIO(blob))
    parts = [("debian-binary", b"2.0\n"), ("control.tar.xz", b""), ("data.tar.xz", data.getvalue())]
    out = b"!<arch>\n"
    for name, blob in parts:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(blob):<10}`\n".encode() + blob
        if len(blob) % 2:
            out += b"\n"
    path.write_bytes(out)
    return path


def test_deb_reading(tmp_path):
    deb = _deb(tmp_path / "x.deb", {"usr/share/dictd/a.index": b"idx", "usr/share/doc/x/copyright": b"GPL"})
    assert S.read_member(deb, "usr/share/dictd/a.index") == b"idx"
    out = S.safe_extract(deb, tmp_path / "d", prefix="usr/share/dictd/")
    assert (out / "a.index").read_bytes() == b"idx"
    (tmp_path / "bad.deb").write_bytes(b"garbage")
    with pytest.raises(DataError, match="not an ar archive"):
        S.read_member(tmp_path / "bad.deb", "x")
