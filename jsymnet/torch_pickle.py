"""Read PyTorch and Jittor weight files without torch and without running code from them.

Reading never imports torch and never runs code from the file: the pickles
are read by :class:`RestrictedUnpickler`, which builds only the few objects a
state dict is made of (ordered dicts, tensors and their storages, numpy arrays)
and refuses every other global. Both of torch's formats are read: the zip
archive of torch >= 1.6 (``data.pkl`` + ``data/<key>`` storages + ``byteorder``)
and the legacy stream (magic number, protocol, system info, the data pickle,
the storage keys, then the raw storages). Jittor's ``jt.save`` files are plain
pickles with a checksum trailer, read the same restricted way.

Every size a file states is bounded before anything is allocated
(:data:`MAX_STORAGE_BYTES` and friends), so a crafted or damaged file fails
with a :class:`ConvertError` that says what is wrong, never with a crash or a
runaway allocation. This module knows nothing of jsymnet's models: it turns a
file into ``{name: ndarray}``; :mod:`jsymnet.models.release` maps names, and
:mod:`jsymnet.checkpoint` reads jsymnet's own files through :func:`read_pickle`.
"""
import collections
import contextlib
import hashlib
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

from .errors import SHOW, JsymnetError

__all__ = ["ConvertError", "RestrictedUnpickler", "read_pickle", "read_weights", "file_format",
           "is_torch_file", "WRAPPER_KEYS", "MAX_STORAGE_BYTES", "MAX_EXPANDED_BYTES",
           "MAX_INFLATION"]

TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
TORCH_LEGACY_PROTOCOL = 1001
JITTOR_TRAILER = b"HCAJSLHD"  # jt.save appends sha1(pickle) + this
_LEGACY_MAGIC_BYTES = b"\x8a\x0a" + TORCH_LEGACY_MAGIC.to_bytes(10, "little")
SNIFF_BYTES = 512  # what file_format looks at (a tar header ends at 262)
# Bounds on what a file may make the reader allocate (hostile inputs):
MAX_STORAGE_BYTES = 8 * 2**30     # one storage; VGG-16's largest is 0.4 GiB
MAX_EXPANDED_BYTES = 64 * 2**20   # a tensor larger than its storage (zero strides)
MAX_INFLATION = 100               # a compressed zip member's size over its bytes in the file


class ConvertError(JsymnetError, ValueError):
    """A weights file cannot be read (or converted); the message says what it is and
    what is wrong."""


# --------------------------------------------------------------------------------------
# Stand-ins for the objects a PyTorch state dict pickle refers to
# --------------------------------------------------------------------------------------

def _refuse_setstate(self, state):
    # pickle's BUILD opcode calls this: a file must not change the reader's stand-ins
    raise pickle.UnpicklingError(f"the file tries to change {self!r}; refusing to load it")


class _StorageType:
    """Stands for ``torch.FloatStorage`` and friends: only its element type matters.

    Immutable: the same instance serves every file, so no file may change it.
    """

    __slots__ = ("name", "dtype")
    __setstate__ = _refuse_setstate

    def __init__(self, name, dtype):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "dtype", dtype)  # numpy dtype string, or "bfloat16"

    def __setattr__(self, key, value):
        raise AttributeError(f"{self!r} is immutable")

    @property
    def itemsize(self):
        return 2 if self.dtype == "bfloat16" else np.dtype(self.dtype).itemsize

    def __repr__(self):
        return f"torch.{self.name}"


_STORAGE_DTYPES = {
    "FloatStorage": "f4", "DoubleStorage": "f8", "HalfStorage": "f2",
    "BFloat16Storage": "bfloat16", "LongStorage": "i8", "IntStorage": "i4",
    "ShortStorage": "i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}
_STORAGE_TYPES = {name: _StorageType(name, dt) for name, dt in _STORAGE_DTYPES.items()}


class _StorageRef:
    """A storage named by a persistent id; its bytes are attached once read."""

    def __init__(self, key, stype, numel, view=None):
        self.key = key
        self.stype = stype
        self.numel = numel
        self.view = view  # legacy format: (offset, size) into the root storage
        self.array = None


class _TensorRef:
    """A tensor waiting for its storage: (storage, offset, size, stride)."""

    def __init__(self, storage, offset, size, stride):
        if not isinstance(storage, _StorageRef):
            raise pickle.UnpicklingError("a tensor refers to something that is not a storage")
        for name, value in (("offset", [offset]), ("size", size), ("stride", stride)):
            if not isinstance(value, (tuple, list)) or not all(
                    isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
                raise pickle.UnpicklingError(f"a tensor has a malformed {name}: {value!r}")
        if len(size) != len(stride):
            raise pickle.UnpicklingError(f"a tensor has size {size} but stride {stride}")
        self.storage, self.offset = storage, offset
        self.size, self.stride = tuple(size), tuple(stride)


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored, **_kw):
    # stands for torch._utils._rebuild_tensor(_v2): requires_grad, hooks, metadata unused
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *_ignored, **_kw):
    # stands for torch._utils._rebuild_parameter(_with_state): a Parameter is its data
    if not isinstance(data, _TensorRef):
        raise pickle.UnpicklingError("a parameter wraps something that is not a tensor")
    return data


class _TensorClass:
    """Stands for ``torch.Tensor`` / ``torch.nn.Parameter`` in ``_rebuild_from_type_v2``."""

    __slots__ = ()
    __setstate__ = _refuse_setstate


def _fresh(fn):
    """A new function object calling ``fn``: each unpickler hands out its own, so that
    nothing a file does to the objects it is given outlives that file."""
    def call(*args, **kw):
        return fn(*args, **kw)
    call.__name__ = fn.__name__
    return call


def _jittor_var(array):
    # stands for jittor_core.Var, pickled as Var(ndarray)
    if not isinstance(array, np.ndarray):
        raise pickle.UnpicklingError("a Jittor Var that does not wrap a numpy array")
    return array


def _numpy_globals():
    out = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    from numpy.core import multiarray  # numpy < 2, as Jittor needs
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out[(mod, "_reconstruct")] = multiarray._reconstruct
        out[(mod, "scalar")] = multiarray.scalar
    return out


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds state-dict objects only and refuses every other global.

    Allowed: ``collections.OrderedDict``; torch's tensor/parameter rebuild
    functions and storage classes (as inert stand-ins, torch is never
    imported); numpy arrays and dtypes; Jittor ``Var`` (unwrapped to its array);
    ``_codecs.encode`` (how protocol-2 pickles store bytes). Any other global,
    e.g. ``os.system`` in a crafted ``__reduce__``, raises
    :class:`pickle.UnpicklingError` before anything is called.
    ``persistent_load`` is the storage resolver (None: persistent ids refused).
    """

    def __init__(self, file, storage_resolver=None, where="file"):
        super().__init__(file)
        self._resolver = storage_resolver
        self._where = where
        # Every stand-in is this unpickler's own (or immutable): a crafted file cannot
        # leave anything behind for the next file read in the same process.
        tensor, parameter, tensor_class = (_fresh(_rebuild_tensor), _fresh(_rebuild_parameter),
                                           _TensorClass())
        jittor_var = _fresh(_jittor_var)

        def rebuild_from_type_v2(func, new_type, args, state):
            if new_type is not tensor_class or func not in (tensor, parameter):
                raise pickle.UnpicklingError("a tensor of an unsupported subclass")
            return func(*args)

        self._allowed = {
            ("collections", "OrderedDict"): collections.OrderedDict,
            ("torch._utils", "_rebuild_tensor"): tensor,
            ("torch._utils", "_rebuild_tensor_v2"): tensor,
            ("torch._utils", "_rebuild_parameter"): parameter,
            ("torch._utils", "_rebuild_parameter_with_state"): parameter,
            ("torch._tensor", "_rebuild_from_type_v2"): rebuild_from_type_v2,
            ("torch", "Tensor"): tensor_class,
            ("torch._tensor", "Tensor"): tensor_class,
            ("torch.nn.parameter", "Parameter"): tensor_class,
            ("jittor", "jittor_core.Var"): jittor_var,
            ("jittor_core", "Var"): jittor_var,
            ("_codecs", "encode"): _fresh(__import__("codecs").encode),
        }
        self._allowed.update(_numpy_globals())
        for name, stype in _STORAGE_TYPES.items():
            self._allowed[("torch", name)] = stype

    def find_class(self, module, name):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"{self._where} refers to '{module}.{name}', which a weights file has no "
                f"reason to contain; refusing to load it (only state dicts of tensors are "
                f"accepted, and nothing in the file is executed)") from None

    def persistent_load(self, pid):
        if self._resolver is None:
            raise pickle.UnpicklingError(f"{self._where}: unexpected persistent id {pid!r}")
        return self._resolver(pid)


# --------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------

def _storage_pid(pid, legacy):
    """Validate a ``('storage', type, key, location, numel[, view])`` persistent id."""
    if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
            and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
            and isinstance(pid[4], int) and pid[4] >= 0):
        raise pickle.UnpicklingError(f"malformed storage reference {pid!r}")
    view = None
    if legacy and len(pid) > 5 and pid[5] is not None:
        v = pid[5]
        if not (isinstance(v, tuple) and len(v) == 3 and isinstance(v[1], int)
                and isinstance(v[2], int) and v[1] >= 0 and v[2] >= 0):
            raise pickle.UnpicklingError(f"malformed storage view {v!r}")
        view = (v[0], v[1], v[2])
    return pid[1], pid[2], pid[4], view


def _decode_storage(raw, stype, little, where, key):
    if len(raw) % stype.itemsize:
        raise ConvertError(f"{where}: storage {key} holds {len(raw)} bytes, not a whole number "
                           f"of {stype!r} elements; the file is damaged")
    order = "<" if little else ">"
    if stype.dtype == "bfloat16":
        half = np.frombuffer(raw, order + "u2").astype(np.uint32)
        return (half << 16).view(np.float32)
    dt = np.dtype(stype.dtype)
    if dt.itemsize > 1:
        dt = dt.newbyteorder(order)
    return np.frombuffer(raw, dt)


def _materialise(obj, where):
    """Replace every :class:`_TensorRef` in a nested dict/list by an ndarray."""
    if isinstance(obj, _TensorRef):
        base = obj.storage.array
        if base is None:
            raise ConvertError(f"{where}: storage {obj.storage.key} is referenced but missing; "
                               f"the file is damaged")
        n = int(np.prod(obj.size, dtype=np.int64)) if obj.size else 1
        if n:
            last = obj.offset + sum((s - 1) * st for s, st in zip(obj.size, obj.stride))
            if last >= base.size:
                raise ConvertError(f"{where}: a tensor of size {obj.size} reaches past the end "
                                   f"of its storage ({base.size} elements); the file is damaged")
        else:
            return np.zeros(obj.size, base.dtype.newbyteorder("="))
        if n > base.size and n * base.itemsize > MAX_EXPANDED_BYTES:
            raise ConvertError(
                f"{where}: a tensor of size {obj.size} ({n * base.itemsize / 2**20:.0f} MiB) is "
                f"spread over a storage of {base.size} elements by zero or overlapping strides; "
                f"a weights file has no reason to hold one, refusing to expand it")
        view = np.lib.stride_tricks.as_strided(
            base[obj.offset:], shape=obj.size,
            strides=tuple(st * base.itemsize for st in obj.stride), writeable=False)
        return np.array(view, dtype=base.dtype.newbyteorder("="))
    if isinstance(obj, dict):
        out = collections.OrderedDict() if isinstance(obj, collections.OrderedDict) else {}
        for k, v in obj.items():
            out[k] = _materialise(v, where)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialise(v, where) for v in obj)
    return obj


@contextlib.contextmanager
def _read_errors(where, damaged, kinds):
    """One ConvertError for a reader's low-level failures: the exception types
    ``kinds`` mean the file is ``damaged`` (said with the cause); a pickle the
    restricted unpickler refused says why; our own errors pass through."""
    try:
        yield
    except ConvertError:
        raise
    except pickle.UnpicklingError as exc:
        raise ConvertError(f"{where}: {exc}") from None
    except MemoryError:
        raise ConvertError(f"{where}: reading it needs more memory than this machine has; "
                           f"if it really is a weights file, convert it on a larger machine") \
            from None
    except kinds as exc:
        raise ConvertError(f"{where}: {damaged} ({type(exc).__name__}: {exc})") from None


def _read_zip(path, source):
    """``source``: the file's path or its bytes."""
    where = str(path)
    try:
        archive = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ConvertError(f"{where}: a damaged or truncated zip archive ({exc}); a PyTorch "
                           f"checkpoint of torch >= 1.6 is a zip archive, this one cannot be "
                           f"read") from None
    with _read_errors(where, "the archive is damaged or truncated",
                      (zipfile.BadZipFile, EOFError, OSError, ValueError)), archive:
        return _materialise(_unpickle_zip(archive, where), where)


def _check_member(info, where):
    """Refuse an archive member that would inflate far beyond its bytes in the file
    (torch.save stores its members uncompressed) or past :data:`MAX_STORAGE_BYTES`."""
    if info.file_size > MAX_STORAGE_BYTES:
        raise ConvertError(f"{where}: member {info.filename} says it holds "
                           f"{info.file_size / 2**30:.1f} GiB, more than the "
                           f"{MAX_STORAGE_BYTES / 2**30:.0f} GiB a storage may have here")
    if info.compress_type != zipfile.ZIP_STORED and \
            info.file_size > MAX_INFLATION * max(info.compress_size, 1) and \
            info.file_size > MAX_EXPANDED_BYTES:
        raise ConvertError(f"{where}: member {info.filename} inflates from "
                           f"{info.compress_size} bytes to {info.file_size / 2**20:.0f} MiB (a "
                           f"compression bomb; torch.save does not compress); refusing to read it")


def _unpickle_zip(archive, where):
    names = archive.namelist()
    pkls = [n for n in names if n.endswith("data.pkl") and n.count("/") <= 1]
    if len(pkls) != 1:
        raise ConvertError(f"{where}: a zip archive but not a PyTorch checkpoint (no single "
                           f"'<name>/data.pkl' inside; it holds {names[:SHOW]}"
                           f"{' ...' if len(names) > SHOW else ''})")
    prefix = pkls[0][:-len("data.pkl")]
    little = True
    if prefix + "byteorder" in names:
        order = archive.read(prefix + "byteorder").decode("ascii", "replace").strip()
        if order not in ("little", "big"):
            raise ConvertError(f"{where}: unknown byte order {order!r} in the archive")
        little = order == "little"
    storages = {}

    def resolve(pid):
        stype, key, _numel, _view = _storage_pid(pid, legacy=False)
        if key not in storages:
            record = f"{prefix}data/{key}"
            try:
                info = archive.getinfo(record)
            except KeyError:
                raise ConvertError(f"{where}: storage {record} is missing from the archive; "
                                   f"the file is damaged") from None
            _check_member(info, where)
            raw = archive.read(record)
            ref = _StorageRef(key, stype, None)
            ref.array = _decode_storage(raw, stype, little, where, key)
            storages[key] = ref
        return storages[key]

    _check_member(archive.getinfo(pkls[0]), where)
    return RestrictedUnpickler(io.BytesIO(archive.read(pkls[0])), resolve, where).load()


def _read_legacy(path, data):
    """The pre-1.6 stream: magic, protocol, sys info, data pickle, keys, raw storages."""
    where = str(path)
    f = io.BytesIO(data)
    with _read_errors(where, "a damaged or truncated legacy PyTorch file",
                      (EOFError, ValueError, TypeError, struct.error)):
        magic = RestrictedUnpickler(f, None, where).load()
        if magic != TORCH_LEGACY_MAGIC:
            raise ConvertError(f"{where}: not a legacy PyTorch file (bad magic number)")
        protocol = RestrictedUnpickler(f, None, where).load()
        if protocol != TORCH_LEGACY_PROTOCOL:
            raise ConvertError(f"{where}: legacy PyTorch protocol {protocol!r} is not supported "
                               f"(only {TORCH_LEGACY_PROTOCOL})")
        sys_info = RestrictedUnpickler(f, None, where).load()
        little = bool(sys_info.get("little_endian", True)) if isinstance(sys_info, dict) else True
        roots, views = {}, {}

        def resolve(pid):
            stype, key, numel, view = _storage_pid(pid, legacy=True)
            if key not in roots:
                roots[key] = _StorageRef(key, stype, numel)
            root = roots[key]
            if view is None:
                return root
            vkey, offset, size = view
            if vkey not in views:
                views[vkey] = (_StorageRef(vkey, stype, size, (offset, size)), root)
            return views[vkey][0]

        obj = RestrictedUnpickler(f, resolve, where).load()
        keys = RestrictedUnpickler(f, None, where).load()
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ConvertError(f"{where}: malformed storage key list in a legacy PyTorch file")
    order = "<" if little else ">"
    for key in keys:
        ref = roots.get(key)
        if ref is None:
            raise ConvertError(f"{where}: storage {key} is listed but never used; the file is "
                               f"damaged")
        header = f.read(8)
        if len(header) < 8:
            raise ConvertError(f"{where}: the file ends before storage {key}: it is truncated")
        numel = struct.unpack(order + "q", header)[0]
        if numel != ref.numel:
            raise ConvertError(f"{where}: storage {key} says {numel} elements where the data "
                               f"pickle said {ref.numel}; the file is damaged")
        nbytes = numel * ref.stype.itemsize
        raw = f.read(nbytes) if numel >= 0 else b""
        if numel < 0 or len(raw) < nbytes:
            raise ConvertError(f"{where}: the file ends inside storage {key} (expected {nbytes} "
                               f"bytes, found {len(raw)}): it is truncated")
        ref.array = _decode_storage(raw, ref.stype, little, where, key)
    for view, root in views.values():
        if root.array is None:
            continue
        offset, size = view.view
        if offset + size > root.array.size:
            raise ConvertError(f"{where}: a storage view reaches past its storage; damaged file")
        view.array = root.array[offset:offset + size]
    return _materialise(obj, where)


def read_pickle(path, data=None):
    """A plain pickle (jt.save, or pickle.dump of numpy arrays), read restrictedly.

    Only plain data, numpy arrays and Jittor Vars are built; any other global
    is refused before anything runs. Raises :class:`ConvertError`.
    """
    if data is None:
        data = Path(path).read_bytes()
    where = str(path)
    if data.endswith(JITTOR_TRAILER) and len(data) >= 28:
        body, checksum = data[:-28], data[-28:-8]
        if hashlib.sha1(body).digest() != checksum:
            raise ConvertError(f"{where}: a Jittor file whose checksum does not match: it is "
                               f"damaged or truncated")
        data = body
    try:
        return RestrictedUnpickler(io.BytesIO(data), None, where).load()
    except pickle.UnpicklingError as exc:
        raise ConvertError(f"{where}: {exc}") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise ConvertError(f"{where}: a damaged or truncated pickle ({type(exc).__name__}: "
                           f"{exc})") from None


# --------------------------------------------------------------------------------------
# Which format a file is, and the state dict it holds
# --------------------------------------------------------------------------------------

def _sniff(data):
    if data[:4] == b"PK\x03\x04":
        return "zip"
    if data[:1] == b"\x80" and len(data) > 1:  # pickle protocol >= 2
        # the legacy stream opens with a tiny pickle of the magic number (a LONG1 opcode)
        return "legacy" if _LEGACY_MAGIC_BYTES in data[:32] else "pickle"
    if len(data) > 262 and data[257:262] == b"ustar":
        return "tar"
    return None


def file_format(path_or_head):
    """Which weights format a file is, from its first bytes (a path, or those bytes).

    ``"zip"`` (torch.save since torch 1.6), ``"legacy"`` (torch.save before 1.6),
    ``"pickle"`` (a plain pickle: Jittor's ``jt.save``, ``pickle.dump``),
    ``"tar"`` (torch before 0.4, not readable) or None (none of these).
    """
    if isinstance(path_or_head, (bytes, bytearray, memoryview)):
        return _sniff(bytes(path_or_head[:SNIFF_BYTES]))
    with open(path_or_head, "rb") as f:
        return _sniff(f.read(SNIFF_BYTES))


def is_torch_file(path):
    """True when ``path`` is a file that ``torch.save`` wrote (zip or legacy format)."""
    return file_format(path) in ("zip", "legacy")


def read_weights(path):
    """(tensors, info) from a ``.pth`` / ``.pt`` / ``.weight`` / ``.pkl`` file.

    ``tensors`` maps names to numpy arrays (the file's own names);
    ``info`` says which format was read and which wrapper key, if any, held
    the state dict. Raises :class:`ConvertError` for anything else.
    """
    path = Path(path)
    if not path.is_file():
        raise ConvertError(f"input not found: {path}")
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    fmt = file_format(head)
    if fmt == "zip":  # read member by member: a 500 MB VGG-16 is not held twice
        obj = _read_zip(path, path)
    elif fmt == "legacy":
        obj = _read_legacy(path, path.read_bytes())
    elif fmt == "pickle":
        obj = read_pickle(path, path.read_bytes())
    elif fmt == "tar":
        raise ConvertError(f"{path}: a tar archive (PyTorch's pre-0.4 format is not supported; "
                           f"load and re-save it with a current torch)")
    else:
        raise ConvertError(f"{path}: not a weights file: neither a PyTorch checkpoint (zip or "
                           f"legacy format) nor a pickle (Jittor .pkl); it starts with "
                           f"{head[:16]!r}{' (an empty file)' if not head else ''}")
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            sha.update(chunk)
    info = {"format": fmt, "file": str(path), "sha256": sha.hexdigest()}
    return _state_dict_of(obj, path, info), info


WRAPPER_KEYS = ("state_dict", "params", "params_ema", "model", "net", "netG", "generator")


def _is_tensor_dict(obj):
    return isinstance(obj, dict) and obj and all(
        isinstance(k, str) and isinstance(v, np.ndarray) for k, v in obj.items())


def _flatten_nested(obj, prefix=""):
    """``{"a": {"b": array}}`` -> ``{"a/b": array}`` (how Flax and JAX checkpoints nest their
    parameters); None when some leaf is not an array."""
    out = collections.OrderedDict()
    for k, v in obj.items():
        if not isinstance(k, str):
            return None
        if isinstance(v, np.ndarray):
            out[prefix + k] = v
        elif isinstance(v, dict) and v:
            inner = _flatten_nested(v, f"{prefix}{k}/")
            if inner is None:
                return None
            out.update(inner)
        else:
            return None
    return out


def _state_dict_of(obj, path, info):
    """The ``{name: ndarray}`` that ``obj`` (a file's unpickled contents) is or wraps
    (under one of :data:`WRAPPER_KEYS`, recorded in ``info``); ConvertError otherwise."""
    # "jsymnet-checkpoint" is jsymnet.checkpoint.FORMAT, spelled out to keep this a leaf
    if isinstance(obj, dict) and obj.get("format") == "jsymnet-checkpoint":
        raise ConvertError(f"{path} is already a jsymnet checkpoint; load it with "
                           f"jsymnet.load_model, there is nothing to convert")
    nested = _flatten_nested(obj) if isinstance(obj, dict) and obj and not \
        _is_tensor_dict(obj) and all(isinstance(v, dict) for v in obj.values()) else None
    if _is_tensor_dict(obj):
        state = obj
    elif nested:
        info["nested"] = True
        state = nested
    elif isinstance(obj, dict):
        wrapped = [k for k in WRAPPER_KEYS if _is_tensor_dict(obj.get(k))]
        if not wrapped:
            keys = [str(k) for k in list(obj)[:SHOW]]
            raise ConvertError(f"{path}: holds a dict that is not a state dict of tensors "
                               f"(keys {keys}{' ...' if len(obj) > SHOW else ''}); expected "
                               f"name -> tensor, or one of {list(WRAPPER_KEYS)} holding that")
        info["wrapper_key"] = wrapped[0]
        state = obj[wrapped[0]]
    elif isinstance(obj, np.ndarray):
        raise ConvertError(f"{path}: holds a single tensor of shape {obj.shape}, not a state "
                           f"dict of tensors")
    else:
        raise ConvertError(f"{path}: holds a {type(obj).__name__}, not a state dict of tensors")
    for k, v in state.items():
        if v.dtype == object:
            raise ConvertError(f"{path}: entry {k} is an object array, not numeric weights")
    return collections.OrderedDict(state)

