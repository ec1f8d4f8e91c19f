"""Where raw files come from: PyPI (``pip download``), Debian (``apt-get download``) or a URL.

Every raw file lands in ``<data_dir>/downloads/`` under its own name, is checked against the checksums the
registry records for it (sha256, and md5/sha1 where only those are published), and its sha256 is written to
``<data_dir>/downloads/manifest.json``. A file whose checksum is not known in advance has its sha256 recorded
(and printed) on the first download; later downloads are checked against that record.

Nothing here installs a package: wheels, sdists and ``.deb`` files are read as archives (zip / tar / ar).
Archives are extracted safely: members that are absolute, climb out with ``..`` or are links are refused.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import lzma
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator, Mapping

from tqdm.auto import tqdm

from ..config import data_dir
from ..io import atomic_path, write_json
from .cachedir import ensure_writable, lock, remove_leftovers
from .errors import ChecksumError, DataError, DataUnavailableError

CHUNK = 1 << 20
_WRITE_ERRNOS = {errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EPERM, getattr(errno, "EDQUOT", errno.ENOSPC)}
#: what reading a damaged zip / tar / gzip / xz / bz2 archive raises (besides tarfile's and zipfile's own errors)
ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    tarfile.TarError,
    EOFError,
    OSError,
    lzma.LZMAError,
    zlib.error,
    struct.error,
    ValueError,
    NotImplementedError,
    RuntimeError,
)


def downloads_dir() -> Path:
    """``<data_dir>/downloads``: raw files as downloaded (wheels, sdists, .deb, zips)."""
    return data_dir() / "downloads"


# ----------------------------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class PipSource:
    """A file from PyPI: ``pip download --no-deps [--no-binary :all:] package==version``."""

    package: str
    version: str
    filename: str  # the file pip writes (wheel or sdist)
    sha256: str | None = None
    sdist: bool = False
    checksums: Mapping[str, str] = field(default_factory=dict)  # extra digests, e.g. {"md5": ...}

    @property
    def spec(self) -> str:
        return f"{self.package}=={self.version}"

    def describe(self) -> str:
        return f"PyPI {self.spec}" + (" (sdist)" if self.sdist else "")


@dataclass(frozen=True)
class AptSource:
    """A Debian package, fetched with ``apt-get download package=version`` (no install, no root)."""

    package: str
    version: str
    filename: str
    sha256: str | None = None
    pool_url: str | None = None  # used when apt-get is not there
    checksums: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        return f"Debian {self.package}={self.version}"


@dataclass(frozen=True)
class UrlSource:
    """A file on the web (the papers' own data). ``sha256=None``: recorded on first download."""

    url: str
    filename: str
    sha256: str | None = None
    checksums: Mapping[str, str] = field(default_factory=dict)
    size: str = ""  # human hint, e.g. "~1.1 GB"

    def describe(self) -> str:
        return self.url


Source = PipSource | AptSource | UrlSource


# ----------------------------------------------------------------------------------------------- checksums
def file_digests(path: str | os.PathLike, algorithms: Iterable[str] = ("sha256",)) -> dict[str, str]:
    """Hex digests of a file, read once in 1 MiB chunks."""
    hs = {a: hashlib.new(a) for a in dict.fromkeys(["sha256", *algorithms])}
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            for h in hs.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hs.items()}


def _manifest_path() -> Path:
    return downloads_dir() / "manifest.json"


def read_manifest() -> dict:
    """The record of downloaded files: ``{filename: {"sha256", "size", "source", "fetched"}}``."""
    p = _manifest_path()
    if not p.exists():
        return {}
    try:
        m = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(
            f"the download manifest is not valid JSON ({e.msg})",
            p,
            e.lineno,
            hint="delete it; the next fetch re-records the checksums",
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(
            f"cannot read the download manifest ({e})", p, hint="delete it; the next fetch re-records the checksums"
        ) from None
    if not isinstance(m, dict) or not all(isinstance(v, dict) for v in m.values()):
        raise DataError(
            "the download manifest is not a JSON object of file records",
            p,
            hint="delete it; the next fetch re-records the checksums",
        )
    return m


def _record(path: Path, source: Source, sha256: str) -> None:
    m = read_manifest()
    rec = m.get(path.name) or {}
    if rec.get("sha256") == sha256 and rec.get("size") == path.stat().st_size:
        return  # already recorded (keeps the date of the download)
    m[path.name] = {
        "sha256": sha256,
        "size": path.stat().st_size,
        "source": source.describe(),
        "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_json(_manifest_path(), dict(sorted(m.items())))


def verify(path: str | os.PathLike, source: Source) -> str:
    """Check ``path`` against the checksums of ``source`` (and the manifest when none is pinned).

    Returns the sha256. Raises :class:`ChecksumError` naming the file, both digests and what to do.
    """
    path = Path(path)
    got, mismatch = _mismatch(path, source)
    if mismatch:
        raise ChecksumError(
            mismatch, path, hint="the file is damaged or not the expected version; delete it and fetch again"
        )
    if not source.sha256:
        rec = read_manifest().get(path.name)
        if not rec or rec.get("sha256") != got["sha256"]:
            print(f"recorded sha256 of {path.name} (first download, no checksum pinned): {got['sha256']}")
    _record(path, source, got["sha256"])
    return got["sha256"]


def _mismatch(path: Path, source: Source) -> tuple[dict[str, str], str | None]:
    """``(digests of path, None)``, or the digests and what does not match the source's checksums (or, for a
    source without a pinned sha256, the manifest's record)."""
    want = {k: v for k, v in dict(source.checksums).items() if v}
    if source.sha256:
        want["sha256"] = source.sha256
    else:
        rec = read_manifest().get(path.name)
        if rec and rec.get("sha256"):
            want["sha256"] = rec["sha256"]
    got = file_digests(path, want)
    for algo, digest in want.items():
        if got[algo] != str(digest).lower():
            return got, f"{algo} checksum mismatch: expected {digest}, got {got[algo]} (source: {source.describe()})"
    return got, None


def _checked(path: Path, source: Source) -> Path:
    """:func:`verify` ``path``; on a mismatch move it aside to ``<name>.bad`` and say what to do."""
    try:
        verify(path, source)
    except ChecksumError:
        _, mismatch = _mismatch(path, source)
        bad = path.with_name(path.name + ".bad")
        os.replace(path, bad)
        pinned = bool(source.sha256) or any(dict(source.checksums).values())
        raise ChecksumError(
            f"{mismatch}; the file was moved aside to {bad.name}",
            path,
            hint=f"run the fetch again to download it afresh, or put the right file at {path} by hand"
            + ("" if pinned else f" (if it changed upstream on purpose, delete its entry in {_manifest_path()})"),
        ) from None
    return path


# ----------------------------------------------------------------------------------------------- fetching
def ensure(source: Source, *, quiet: bool = False) -> Path:
    """Return the local path of ``source`` under ``downloads_dir()``, downloading and verifying it if needed.

    A file already there (e.g. put there by hand) is verified, not downloaded again. Its checksums are checked on
    every call; a file that does not match is moved aside to ``<name>.bad`` (:class:`ChecksumError` says what to
    do). Temporaries of an earlier, interrupted download of the same file are removed first.
    """
    dest = downloads_dir() / source.filename
    ensure_writable(dest.parent)
    with lock(f"download-{source.filename}"):  # one downloader per file, across processes
        remove_leftovers(dest.parent, dest.name)  # what an interrupted download of this file left
        if not dest.exists():
            if isinstance(source, PipSource):
                _pip_download(source, dest, quiet=quiet)
            elif isinstance(source, AptSource):
                _apt_download(source, dest, quiet=quiet)
            elif isinstance(source, UrlSource):
                url_download(source.url, dest, quiet=quiet)
            else:  # pragma: no cover
                raise TypeError(f"unknown source {source!r}")
        return _checked(dest, source)  # every time: a file of the right size may still be damaged


def _pip_download(src: PipSource, dest: Path, *, quiet: bool) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--no-binary" if src.sdist else "--only-binary",
        ":all:",
        src.spec,
    ]
    hint = (
        f"on a machine that reaches PyPI run `pip download --no-deps "
        f"{'--no-binary :all: ' if src.sdist else ''}{src.spec}` and copy {src.filename} to {dest.parent}/"
    )
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".pip-{src.filename}-") as tmp:
        try:
            proc = subprocess.run(cmd + ["-d", tmp], capture_output=True, text=True)
        except OSError as e:  # pragma: no cover - python itself is there
            raise DataUnavailableError(f"cannot run pip ({e}); {hint}") from None
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-6:])
            raise DataUnavailableError(
                f"pip could not download {src.spec} (no network to PyPI, or the version is gone):\n{tail}\n"
                f"What to do: {hint}"
            )
        got = Path(tmp) / src.filename
        if not got.exists():
            names = sorted(p.name for p in Path(tmp).iterdir())
            raise DataUnavailableError(f"pip downloaded {names} for {src.spec}, expected {src.filename}; {hint}")
        os.replace(got, dest)
    if not quiet:
        print(f"downloaded {src.describe()} -> {dest} ({dest.stat().st_size / 1e6:.1f} MB)")


def _apt_download(src: AptSource, dest: Path, *, quiet: bool) -> None:
    apt = shutil.which("apt-get")
    if apt is None:
        if src.pool_url:
            if not quiet:
                print(f"apt-get not found; downloading {src.package} from the Debian pool instead")
            url_download(src.pool_url, dest, quiet=quiet)
            return
        raise DataUnavailableError(
            f"apt-get is not available, and {src.package}={src.version} comes from Debian. Install apt (a "
            f"Debian/Ubuntu system), or download {src.filename} by hand and put it in {dest.parent}/"
        )
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".apt-{src.filename}-") as tmp:
        proc = subprocess.run(
            [apt, "download", f"{src.package}={src.version}"], cwd=tmp, capture_output=True, text=True
        )
        got = Path(tmp) / src.filename
        if proc.returncode != 0 or not got.exists():
            if src.pool_url:
                try:
                    url_download(src.pool_url, dest, quiet=quiet)
                    return
                except DataUnavailableError:
                    pass
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-4:])
            raise DataUnavailableError(
                f"`apt-get download {src.package}={src.version}` failed:\n{tail}\nWhat to do: run "
                f"`apt-get update` (the package lists may be missing), or download {src.pool_url or src.filename} "
                f"by hand and put it in {dest.parent}/"
            )
        os.replace(got, dest)
    if not quiet:
        print(f"downloaded {src.describe()} -> {dest} ({dest.stat().st_size / 1e6:.1f} MB)")


def url_download(url: str, dest: str | os.PathLike, *, quiet: bool = False, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` with a tqdm progress bar, atomically (temporary name, then rename).

    Offline, raises :class:`DataUnavailableError` naming the URL and where to put the file by hand.
    """

    dest = Path(dest)
    hint = f"download {url} by hand (a browser or `curl -LO`) and put it at {dest}"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "lpa-book"}), timeout=timeout)
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise DataUnavailableError(
            f"cannot download {url}: {reason}. This needs the network. What to do: {hint}"
        ) from None
    total = int(resp.headers.get("Content-Length") or 0) or None
    with (
        resp,
        atomic_path(dest) as tmp,
        open(tmp, "wb") as out,
        tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=quiet) as bar,
    ):
        try:
            while chunk := resp.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
        except OSError as e:
            raise DataUnavailableError(f"download of {url} broke off ({e}); run the fetch again, or {hint}") from None
        out.flush()
        os.fsync(out.fileno())
        if total is not None and out.tell() != total:
            raise DataUnavailableError(
                f"download of {url} is truncated ({out.tell()} of {total} bytes); run the fetch again, or {hint}"
            )
    return dest


# ----------------------------------------------------------------------------------------------- archives
def _safe_member_name(name: str, archive: Path) -> PurePosixPath:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
        raise DataError(
            f"archive member {name!r} would be written outside the target folder; refusing to extract it",
            archive,
            hint="the archive is damaged or malicious; delete it",
        )
    return p


@contextlib.contextmanager
def _reading(archive: Path, member: str | None = None) -> Iterator[None]:
    """Turn every error of reading a damaged archive (zip, tar, gzip, xz, bz2, ar) into a DataError naming it."""
    try:
        yield
    except (DataError, DataUnavailableError):
        raise
    except ARCHIVE_ERRORS as e:
        if isinstance(e, OSError) and e.errno in _WRITE_ERRNOS:
            raise  # the disk, not the archive
        what = "the archive" if member is None else f"member {member!r} of the archive"
        raise DataError(
            f"cannot read {what} ({type(e).__name__}: {e})",
            archive,
            hint="the download is damaged; delete it and fetch again",
        ) from None


def _ar_members(path: Path) -> dict[str, tuple[int, int]]:
    """Members of a Unix ``ar`` archive (a ``.deb``): name -> (offset, size)."""
    out = {}
    with _reading(path), open(path, "rb") as fh:
        if fh.read(8) != b"!<arch>\n":
            raise DataError(
                "not an ar archive (a .deb starts with '!<arch>')",
                path,
                hint="the download is damaged; delete it and fetch again",
            )
        while header := fh.read(60):
            if header == b"\n":
                break  # padding at the end
            at = fh.tell() - len(header)
            if len(header) < 60:
                raise DataError(f"truncated ar header at byte {at}", path, hint="delete the file and fetch again")
            try:
                name = header[:16].decode("ascii").strip().rstrip("/")
                size = int(header[48:58].decode("ascii").strip())
            except (UnicodeDecodeError, ValueError):
                raise DataError(
                    f"damaged ar member header at byte {at}: {header[:16]!r}",
                    path,
                    hint="the download is damaged; delete it and fetch again",
                ) from None
            if size < 0:
                raise DataError(
                    f"damaged ar member header at byte {at} (size {size})",
                    path,
                    hint="the download is damaged; delete it and fetch again",
                )
            out[name] = (fh.tell(), size)
            fh.seek(size + (size & 1), 1)
    return out


def _open_deb_data(path: Path) -> tarfile.TarFile:
    members = _ar_members(path)
    name = next((n for n in members if n.startswith("data.tar")), None)
    if name is None:
        raise DataError("no data.tar.* member in the .deb", path, hint="delete the file and fetch again")
    off, size = members[name]
    with _reading(path, name):
        with open(path, "rb") as fh:
            fh.seek(off)
            blob = fh.read(size)
        if len(blob) < size:
            raise DataError(
                f"{name} is truncated ({len(blob)} of {size} bytes)",
                path,
                hint="the download is damaged; delete it and fetch again",
            )
        try:
            return tarfile.open(fileobj=io.BytesIO(blob), mode="r:*")
        except tarfile.ReadError:
            if not name.endswith(".zst"):
                raise
    # data.tar.zst, which Python's tarfile cannot read: let dpkg-deb unpack it
    dpkg = shutil.which("dpkg-deb")
    if dpkg is None:
        raise DataUnavailableError(f"{path}: {name} needs dpkg-deb to unpack; install dpkg")
    proc = subprocess.run([dpkg, "--fsys-tarfile", str(path)], capture_output=True)
    if proc.returncode != 0:
        raise DataError(
            f"dpkg-deb could not unpack {name}: {proc.stderr.decode(errors='replace').strip()[-200:]}",
            path,
            hint="the download is damaged; delete it and fetch again",
        )
    with _reading(path, name):
        return tarfile.open(fileobj=io.BytesIO(proc.stdout), mode="r:")


def _open_tar(archive: Path) -> tarfile.TarFile:
    return _open_deb_data(archive) if archive.suffix == ".deb" else tarfile.open(archive, "r:*")


def list_members(archive: str | os.PathLike) -> list[str]:
    """Member names of a zip (wheel), tar(.gz/.xz) (sdist) or .deb archive (regular files only)."""
    archive = Path(archive)
    with _reading(archive):
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                return [i.filename for i in z.infolist() if not i.is_dir()]
        with _open_tar(archive) as tf:
            return [m.name for m in tf.getmembers() if m.isfile()]


def read_member(archive: str | os.PathLike, member: str) -> bytes:
    """The bytes of one member of a zip / tar / .deb archive (``./`` prefixes ignored)."""
    archive = Path(archive)
    want = member.lstrip("./") if member.startswith("./") else member
    with _reading(archive, member):
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                if want in z.NameToInfo:
                    return z.read(want)
        else:
            with _open_tar(archive) as tf:
                for m in tf.getmembers():
                    if m.isfile() and m.name.lstrip("./") == want.lstrip("./"):
                        return tf.extractfile(m).read()
    raise DataError(
        f"member {member!r} not found in the archive",
        archive,
        hint="the package version differs from the one this code was written for",
    )


def safe_extract(
    archive: str | os.PathLike, dest: str | os.PathLike, prefix: str = "", strip: str | None = None
) -> Path:
    """Extract the members of ``archive`` under ``prefix`` into the folder ``dest``, atomically.

    ``strip`` (default: ``prefix``) is removed from the member names. Members with absolute paths, ``..``
    components, links or devices are refused (:class:`DataError`), and so is a damaged archive of any kind.
    ``dest`` appears only when complete.
    """
    archive, dest = Path(archive), Path(dest)
    strip = prefix if strip is None else strip
    with atomic_path(dest) as tmp, _reading(archive):
        tmp.mkdir(parents=True)
        root = tmp.resolve()
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                for info in z.infolist():
                    name = _safe_member_name(info.filename, archive)
                    if info.is_dir() or not str(name).startswith(prefix):
                        continue
                    if (info.external_attr >> 16) & 0o170000 == 0o120000:
                        raise DataError(f"archive member {info.filename!r} is a symbolic link; refusing", archive)
                    _write_member(root, str(name)[len(strip) :], z.open(info), archive)
        else:
            with _open_tar(archive) as tf:
                for m in tf.getmembers():
                    clean = m.name[2:] if m.name.startswith("./") else m.name
                    name = _safe_member_name(clean, archive)
                    if not str(name).startswith(prefix) or m.isdir():
                        continue
                    if not m.isfile():
                        raise DataError(f"archive member {m.name!r} is a link or device; refusing", archive)
                    _write_member(root, str(name)[len(strip) :], tf.extractfile(m), archive)
    return dest


def _write_member(root: Path, rel: str, fh, archive: Path) -> None:
    rel = rel.lstrip("/")
    if not rel:
        return
    target = (root / rel).resolve()
    if root != target and root not in target.parents:
        raise DataError(f"archive member {rel!r} would be written outside the target folder; refusing", archive)
    target.parent.mkdir(parents=True, exist_ok=True)
    with fh, open(target, "wb") as out:
        shutil.copyfileobj(fh, out, CHUNK)


def dir_size(path: str | os.PathLike) -> int:
    """Bytes used by the files under ``path`` (0 if absent)."""
    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.exists() else 0
