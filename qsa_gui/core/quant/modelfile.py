"""A packed b-bit model file format that cannot execute code when loaded (no pickle anywhere).

INQ-quantized tensors are stored as their level codes (:mod:`qsa_gui.core.quant.inq`), the rest
as raw little-endian buffers::

    magic  b"\\x89QSAINQ\\n"       8 bytes (the \\x89 and \\n catch text-mode and 7-bit damage)
    version                      uint16 little-endian (1)
    flags                        uint16 (0)
    header length                uint32
    header CRC-32                uint32
    header                       UTF-8 JSON: bits, meta, payload length and CRC-32,
                                 and per tensor: name, shape, dtype, n1 (packed ones only)
    payload                      the tensors back to back in header order: packed tensors as
                                 big-endian-bit-order b-bit codes (np.packbits, padded to a
                                 byte), raw tensors as little-endian buffers

A code is 0 for zero, ``1..K`` for ``+2^(n2+code-1)`` and ``K+1..2K`` for
``-2^(n2+code-K-1)``, with ``K = 2^(b-2)`` powers per sign.

Version 2 (written only for the codebook quantizers of :mod:`qsa_gui.core.quant.codebook`;
INQ and float files stay version 1, byte for byte) adds ``quantizer`` (``dorefa``: 1-bit codes,
``twn``: 2-bit codes) to the header, and per packed tensor ``levels`` instead of ``n1``: the
layer's values in code order (code i -> levels[i]). Version 1 files load as before.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..atomic import atomic_write_bytes
from ..errors import ModelFileError
from .codebook import CODE_BITS, check_quantizer, quantize_codebook
from .inq import (
    MAX_BITS,
    MIN_BITS,
    _check_bits,
    _check_finite,
    _codes,
    _level_table,
    _powers_per_sign,
    _quantizable_state_names,
    _resolve_exponents,
    inq_exponents,
)

MAGIC = b"\x89QSAINQ\n"
FORMAT_VERSION = 1
CODEBOOK_VERSION = 2  # files of the dorefa / twn quantizers
_PRELUDE = struct.Struct("<8sHHII")  # magic, version, flags, header length, header crc32
# Largest header accepted when loading: a paper-width model needs a few tens of kB.
_MAX_HEADER_BYTES = 64 * 1024 * 1024
# Exponents of finite float64 values lie in about [-1074, 1023]; anything else is corruption.
_MAX_ABS_EXPONENT = 1100  # then ldexp itself stays finite / representable
_PICKLE_HINT = (
    "this looks like a pickle / torch.save file; refusing to load it because unpickling "
    "can execute arbitrary code (only QSA model files are accepted)"
)

# dtype name -> (torch dtype, numpy little-endian dtype) for tensors stored raw.
_RAW_DTYPES: dict[str, tuple[torch.dtype, str]] = {
    "float32": (torch.float32, "<f4"),
    "float64": (torch.float64, "<f8"),
    "float16": (torch.float16, "<f2"),
    "int64": (torch.int64, "<i8"),
    "int32": (torch.int32, "<i4"),
    "int16": (torch.int16, "<i2"),
    "int8": (torch.int8, "i1"),
    "uint8": (torch.uint8, "u1"),
    "bool": (torch.bool, "u1"),
}
_TORCH_TO_NAME = {tdt: name for name, (tdt, _) in _RAW_DTYPES.items()}
# Quantized (packed) tensors are decoded into one of these floating dtypes.
_PACKED_DTYPES = ("float32", "float64", "float16")


# --------------------------------------------------------------------------------------------
# Bit packing
# --------------------------------------------------------------------------------------------

_CHUNK = 1 << 20  # codes per packing chunk; a multiple of 8 so chunks end on byte boundaries


def _pack_codes(codes: np.ndarray, bits: int) -> bytes:
    """Pack uint8 codes (< 2^bits) into ceil(n * bits / 8) bytes, most significant bit first."""
    out = []
    for start in range(0, codes.size, _CHUNK):
        chunk = codes[start : start + _CHUNK].astype(np.uint8, copy=False)
        bitmat = np.unpackbits(chunk[:, None], axis=1)[:, 8 - bits :]
        out.append(np.packbits(bitmat.reshape(-1)).tobytes())
    return b"".join(out)


def _unpack_codes(buf: bytes | memoryview, n: int, bits: int) -> np.ndarray:
    """Inverse of :func:`_pack_codes`: ``n`` codes as int64."""
    raw = np.frombuffer(buf, dtype=np.uint8)
    out = np.empty(n, dtype=np.int64)
    per_chunk_bytes = _CHUNK * bits // 8
    for i, start in enumerate(range(0, n, _CHUNK)):
        m = min(_CHUNK, n - start)
        piece = raw[i * per_chunk_bytes : i * per_chunk_bytes + (m * bits + 7) // 8]
        bitvec = np.unpackbits(piece, count=m * bits).reshape(m, bits)
        acc = np.zeros(m, dtype=np.uint8)
        for j in range(bits):  # uint8 shifts: no (m, bits) int64 temporary
            acc = (acc << 1) | bitvec[:, j]
        out[start : start + m] = acc
    return out


def _packed_nbytes(numel: int, bits: int) -> int:
    return (numel * bits + 7) // 8


# --------------------------------------------------------------------------------------------
# Container
# --------------------------------------------------------------------------------------------


def _on_grid_exponents(w: Tensor, bits: int) -> tuple[int, int] | None:
    """(n1, n2) whose grid holds every value of ``w`` exactly, or None if no grid does."""
    if not bool(torch.isfinite(w).all()):
        return None
    a = w.abs()
    nz = a[a > 0]
    if nz.numel() == 0:
        return inq_exponents(0.0, bits)
    mant, exp = torch.frexp(nz)
    if not bool((mant == 0.5).all()):
        return None  # some nonzero value is not a power of two
    top = int(exp.max()) - 1
    n1, n2 = top, top + 1 - _powers_per_sign(bits)
    if int(exp.min()) - 1 < n2:
        return None  # exponents span more than the 2^(b-2) powers a b-bit code can hold
    return n1, n2


def _encode(
    state: Mapping[str, Tensor],
    quantized_names: set[str],
    bits: int | None,
    meta: Mapping[str, Any],
    *,
    strict: bool,
    quantizer: str = "inq",
) -> tuple[bytes, int, int]:
    """Serialize a state dict; returns (bytes, quantized element count, other element count).

    ``strict``: refuse off-grid quantizable weights (saving); otherwise round them on a copy
    (size estimates for models not quantized yet).
    """
    check_quantizer(quantizer)
    codebook = bits is not None and quantizer != "inq"
    if codebook:
        bits = CODE_BITS[quantizer]
    elif bits is not None:
        bits = _check_bits(bits)
    try:
        meta_obj = json.loads(json.dumps(dict(meta), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"meta must be JSON-serializable: {exc}") from None
    entries: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    n_quant = n_other = 0
    for name, tensor in state.items():
        t = tensor.detach().cpu().contiguous()
        entry: dict[str, Any] = {"name": str(name), "shape": [int(d) for d in t.shape]}
        dname = _TORCH_TO_NAME.get(t.dtype)
        pack = bits is not None and name in quantized_names
        if pack:
            if dname not in _PACKED_DTYPES:
                raise ValueError(f"{name}: cannot quantize a {t.dtype} tensor")
            assert bits is not None
            if codebook:
                table, codes = _codebook_codes(t, quantizer, name, strict)
                entry.update(dtype=dname, levels=table)
                chunks.append(_pack_codes(codes, bits))
                n_quant += t.numel()
                entries.append(entry)
                continue
            grid = _on_grid_exponents(t, bits)
            if grid is None:
                if strict:
                    raise ValueError(
                        f"{name} is not on a {bits}-bit INQ grid (finish the INQ schedule, "
                        "or save with bits=None)"
                    )
                _check_finite(t)
                grid = _resolve_exponents(t, bits, None, None)
            n1, n2 = grid
            codes = _codes(t, n1, n2).reshape(-1).numpy().astype(np.uint8)
            entry.update(dtype=dname, n1=n1)
            chunks.append(_pack_codes(codes, bits))
            n_quant += t.numel()
        else:
            if dname is None:
                raise ValueError(f"{name}: unsupported dtype {t.dtype}")
            arr = t.numpy()
            if dname == "bool":
                arr = arr.astype(np.uint8)
            entry["dtype"] = dname
            chunks.append(np.ascontiguousarray(arr, dtype=_RAW_DTYPES[dname][1]).tobytes())
            n_other += t.numel()
        entries.append(entry)
    payload = b"".join(chunks)
    header = {
        "format": "qsa-inq-model",
        "bits": bits,
        "payload_bytes": len(payload),
        "payload_crc32": zlib.crc32(payload),
        "tensors": entries,
        "meta": meta_obj,
    }
    if codebook:
        header["quantizer"] = quantizer
    hbytes = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    version = CODEBOOK_VERSION if codebook else FORMAT_VERSION
    prelude = _PRELUDE.pack(MAGIC, version, 0, len(hbytes), zlib.crc32(hbytes))
    return prelude + hbytes + payload, n_quant, n_other


def _codebook_codes(t: Tensor, quantizer: str, name: str, strict: bool) -> tuple[list[float], np.ndarray]:
    """(levels in code order, uint8 codes) of a tensor on a dorefa / twn codebook."""
    _check_finite(t)
    values = torch.unique(t.double()).tolist()
    if quantizer == "dorefa":
        ok = len(values) <= 2
        table = [values[0], values[-1]] if values else [0.0, 0.0]
    else:
        alpha = max((abs(v) for v in values), default=0.0)
        ok = all(v in (0.0, alpha, -alpha) for v in values)
        table = [0.0, alpha, -alpha]
    if not ok:
        if strict:
            raise ValueError(
                f"{name} is not on a {quantizer} codebook (finish its schedule, or save with bits=None)"
            )
        t = quantize_codebook(t, quantizer)
        return _codebook_codes(t, quantizer, name, True)
    x = t.double().reshape(-1)
    codes = np.zeros(x.numel(), dtype=np.uint8)
    for code in range(len(table) - 1, -1, -1):  # lowest code wins a tie (dorefa: one value)
        codes[(x == table[code]).numpy()] = code
    return table, codes


def pack_state(model: nn.Module, bits: int | None, meta: Mapping[str, Any], quantizer: str = "inq") -> bytes:
    """Serialize ``model.state_dict()``: quantizable weights as b-bit codes, the rest raw.

    ``bits=None`` stores every tensor raw (float models) in the same container. With ``bits``
    every quantizable weight must already be exactly on a b-bit INQ grid (ValueError otherwise).
    """
    names = _quantizable_state_names(model)
    data, _, _ = _encode(model.state_dict(), names, bits, meta, strict=True, quantizer=quantizer)
    return data


def save_model(
    path: str | Path, model: nn.Module, *, bits: int | None, meta: Mapping[str, Any], quantizer: str = "inq"
) -> int:
    """Write the model atomically in the packed format; returns the number of bytes written.
    ``quantizer`` ``dorefa`` / ``twn`` (with any non-None ``bits``) stores codebook codes."""
    data = pack_state(model, bits, meta, quantizer)
    atomic_write_bytes(path, data)
    return len(data)


class _Bad(Exception):
    """Internal: the file is unusable, with a one-line reason."""


def _looks_like_pickle_or_torch(data: bytes) -> bool:
    if data[:2] == b"PK":  # torch.save's zip container (holds a pickle)
        return True
    if len(data) >= 2 and data[0] == 0x80 and 0 <= data[1] <= 5:  # pickle protocol 2..5
        return True
    # torch.save legacy format starts with a pickled magic number; protocol 0/1 opcodes.
    return data[:1] in (b"(", b"]", b"}", b"c") and b"." in data[-2:]


def _want(cond: bool, reason: str) -> None:
    if not cond:
        raise _Bad(reason)


def _parse_shape(value: Any, name: str) -> tuple[tuple[int, ...], int]:
    _want(isinstance(value, list) and len(value) <= 16, f"{name}: bad shape")
    shape = []
    for d in value:
        _want(type(d) is int and 0 <= d < 2**40, f"{name}: bad shape")
        shape.append(d)
    return tuple(shape), math.prod(shape)


def _decode(data: bytes) -> tuple[dict[str, Tensor], dict[str, Any]]:
    _want(len(data) > 0, "empty file")
    if data[: len(MAGIC)] != MAGIC:
        if MAGIC.startswith(data[: len(MAGIC)]):
            raise _Bad("truncated file (shorter than the QSA model file prelude)")
        raise _Bad(_PICKLE_HINT if _looks_like_pickle_or_torch(data) else "not a QSA model file")
    _want(len(data) >= _PRELUDE.size, "truncated file (incomplete prelude)")
    _, version, flags, hlen, hcrc = _PRELUDE.unpack_from(data, 0)
    _want(version in (FORMAT_VERSION, CODEBOOK_VERSION), f"unsupported model file version {version}")
    _want(flags == 0, f"unsupported model file flags {flags}")
    _want(hlen <= _MAX_HEADER_BYTES, "corrupt header length")
    hstart = _PRELUDE.size
    _want(len(data) >= hstart + hlen, "truncated file (incomplete header)")
    hbytes = data[hstart : hstart + hlen]
    _want(zlib.crc32(hbytes) == hcrc, "corrupt header (checksum mismatch)")
    try:
        header = json.loads(hbytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _Bad("corrupt header (not JSON)") from None
    _want(isinstance(header, dict) and header.get("format") == "qsa-inq-model", "bad header")
    bits = header.get("bits")
    quantizer = header.get("quantizer", "inq") if version == CODEBOOK_VERSION else "inq"
    if version == CODEBOOK_VERSION:
        _want(quantizer in CODE_BITS and bits == CODE_BITS[quantizer], "bad quantizer or bit width")
    else:
        _want("quantizer" not in header, "quantizer field in a version 1 file")
        _want(bits is None or (type(bits) is int and MIN_BITS <= bits <= MAX_BITS), "bad bit width")
    meta = header.get("meta")
    _want(isinstance(meta, dict), "bad meta")
    tensors = header.get("tensors")
    _want(isinstance(tensors, list), "bad tensor list")
    plen, pcrc = header.get("payload_bytes"), header.get("payload_crc32")
    _want(type(plen) is int and type(pcrc) is int, "bad payload description")
    payload = memoryview(data)[hstart + hlen :]
    _want(len(payload) >= plen, "truncated file (incomplete payload)")
    _want(len(payload) == plen, "trailing bytes after the payload")
    _want(zlib.crc32(payload) == pcrc, "corrupt payload (checksum mismatch)")

    state: dict[str, Tensor] = {}
    offset = 0
    for entry in tensors:
        _want(isinstance(entry, dict), "bad tensor entry")
        name = entry.get("name")
        _want(isinstance(name, str) and name not in state, "bad or duplicate tensor name")
        shape, numel = _parse_shape(entry.get("shape"), name)
        dname = entry.get("dtype")
        if "levels" in entry:
            table = entry["levels"]
            n_levels = 2 if quantizer == "dorefa" else 3
            _want(quantizer != "inq" and bits is not None, f"{name}: codebook tensor in an INQ file")
            _want(isinstance(table, list) and len(table) == n_levels, f"{name}: bad levels")
            _want(all(type(v) in (int, float) and math.isfinite(v) for v in table), f"{name}: bad levels")
            _want(dname in _PACKED_DTYPES, f"{name}: bad dtype")
            nbytes = _packed_nbytes(numel, bits)
            _want(offset + nbytes <= plen, f"{name}: payload too short")
            codes = _unpack_codes(payload[offset : offset + nbytes], numel, bits)
            _want(numel == 0 or int(codes.max()) < n_levels, f"{name}: bad code")
            lut = torch.tensor(table, dtype=torch.float64).to(_RAW_DTYPES[dname][0])
            _want(bool(torch.isfinite(lut).all()), f"{name}: levels out of range for {dname}")
            state[name] = lut[torch.from_numpy(codes)].reshape(shape)
        elif "n1" in entry:
            n1 = entry["n1"]
            _want(bits is not None, f"{name}: packed tensor in a float file")
            _want(type(n1) is int and abs(n1) <= _MAX_ABS_EXPONENT, f"{name}: bad n1")
            _want(dname in _PACKED_DTYPES, f"{name}: bad dtype")
            nbytes = _packed_nbytes(numel, bits)
            _want(offset + nbytes <= plen, f"{name}: payload too short")
            codes = _unpack_codes(payload[offset : offset + nbytes], numel, bits)
            n2 = n1 + 1 - _powers_per_sign(bits)
            _want(numel == 0 or int(codes.max()) <= 2 * _powers_per_sign(bits), f"{name}: bad code")
            table = _level_table(n1, n2, _RAW_DTYPES[dname][0], "cpu")
            _want(bool(torch.isfinite(table).all()), f"{name}: n1 out of range for {dname}")
            state[name] = table[torch.from_numpy(codes)].reshape(shape)
        else:
            _want(dname in _RAW_DTYPES, f"{name}: bad dtype")
            tdt, npdt = _RAW_DTYPES[dname]
            nbytes = numel * np.dtype(npdt).itemsize
            _want(offset + nbytes <= plen, f"{name}: payload too short")
            native = np.dtype(npdt).newbyteorder("=")
            arr = np.frombuffer(payload[offset : offset + nbytes], dtype=npdt).astype(native, copy=True)
            t = torch.from_numpy(arr.reshape(shape))
            state[name] = t.to(torch.bool) if dname == "bool" else t
        offset += nbytes
    _want(offset == plen, "payload length does not match the tensor list")
    return state, meta


def unpack_state(
    data: bytes, path_for_errors: str | Path = "<memory>"
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Decode a packed model bit-exactly into ``(state_dict, meta)`` (CPU tensors).

    Anything that is not a well-formed QSA model file, pickles and ``torch.save`` files
    included, raises :class:`ModelFileError`; nothing is ever unpickled.
    """
    try:
        return _decode(bytes(data))
    except _Bad as exc:
        raise ModelFileError(path_for_errors, str(exc)) from None
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, struct.error, RuntimeError) as exc:
        raise ModelFileError(path_for_errors, f"corrupt model file ({type(exc).__name__})") from None


def load_model_state(path: str | Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read a file written by :func:`save_model`; see :func:`unpack_state`."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelFileError(path, f"cannot read: {exc.strerror or exc}") from None
    return unpack_state(data, path)


def size_report(model: nn.Module, bits: int | None) -> dict[str, Any]:
    """Real serialized sizes: the packed file vs the same container holding float32 everything.

    Biases, normalisation parameters and buffers are counted on both sides. The model need not
    be quantized yet: off-grid weights are rounded on a copy for the measurement only.
    ``quantized_params`` / ``other_params`` count elements (``other`` includes buffers).
    """
    state = model.state_dict()
    names = _quantizable_state_names(model)
    float_state = {k: (v.detach().float() if v.is_floating_point() else v) for k, v in state.items()}
    float_bytes, _, _ = _encode(float_state, names, None, {}, strict=False)
    packed, n_quant, n_other = _encode(state, names, bits, {}, strict=False)
    return {
        "bits": bits,
        "float32_bytes": len(float_bytes),
        "packed_bytes": len(packed),
        "ratio": len(float_bytes) / len(packed),
        "quantized_params": n_quant,
        "other_params": n_other,
    }
