"""model/lfs: the Git LFS pointer parser the loader, the budgets and --base share."""

from __future__ import annotations

from onnxslim_lint.model.lfs import is_lfs_pointer, lfs_pointer_size

_OID = "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
POINTER = f"version https://git-lfs.github.com/spec/v1\n{_OID}size 12345678\n".encode()


def test_a_pointer_is_recognised_and_sized() -> None:
    assert is_lfs_pointer(POINTER)
    assert lfs_pointer_size(POINTER) == 12345678


def test_crlf_line_ends_are_read() -> None:
    assert lfs_pointer_size(POINTER.replace(b"\n", b"\r\n")) == 12345678


def test_a_pointer_without_a_size_line_has_no_size() -> None:
    head = f"version https://git-lfs.github.com/spec/v1\n{_OID}".encode()
    assert is_lfs_pointer(head)
    assert lfs_pointer_size(head) is None
    assert lfs_pointer_size(head + b"size twelve\n") is None


def test_other_bytes_are_no_pointer() -> None:
    model_start = b"\x08\x08\x12\x07pytorch"
    assert not is_lfs_pointer(model_start)
    assert lfs_pointer_size(model_start) is None
    assert lfs_pointer_size(b"size 12\n") is None  # a size line alone is not a pointer
    assert not is_lfs_pointer(b"")


def test_the_size_line_must_be_within_the_pointer_head() -> None:
    far = POINTER.replace(b"size", b"x" * 2000 + b"\nsize")
    assert is_lfs_pointer(far)
    assert lfs_pointer_size(far) is None
