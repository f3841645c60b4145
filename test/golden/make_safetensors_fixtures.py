#!/usr/bin/env python3
"""safetensors fixtures and checker for test/safetensors.test.ts.

  /usr/bin/python3 test/golden/make_safetensors_fixtures.py
      Writes small .safetensors files by hand from the format spec (the `safetensors` package is
      not installed), with numpy/torch producing the tensor bytes, plus expected.json (values as
      torch reads them back) and conversions.json (f32 -> f16 by numpy, f32 -> bf16 by torch).

  /usr/bin/python3 test/golden/make_safetensors_fixtures.py --check FILE [FILE ...]
      Parses FILE with the rules of the official implementation (safetensors' Rust
      `SafeTensors::read_metadata` + `validate`), checks the writer's padding (header padded
      with spaces so the data starts at a multiple of 8), reinterprets each tensor's bytes with
      torch (numpy for dtypes torch 1.13 lacks) and prints one JSON line per file. Exit status 1 if
      any file breaks a rule.

Float values are exchanged as f32 bit patterns (uint32), so NaN, ±Inf and -0 survive JSON;
integers as decimal strings, so 64-bit values survive JavaScript's JSON.parse.
"""
import json
import math
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, 'safetensors')
MAX_HEADER = 100_000_000
DTYPE_BYTES = {'F64': 8, 'F32': 4, 'F16': 2, 'BF16': 2, 'F8_E4M3': 1, 'F8_E5M2': 1, 'I64': 8, 'I32': 4,
               'I16': 2, 'I8': 1, 'U64': 8, 'U32': 4, 'U16': 2, 'U8': 1, 'BOOL': 1}
FLOATS = {'F64', 'F32', 'F16', 'BF16'}


def f32_bits(t):
    """torch float tensor (any float dtype) -> list of f32 bit patterns."""
    import torch
    return [int(v) & 0xFFFFFFFF for v in t.to(torch.float32).contiguous().view(torch.int32).flatten().tolist()]


def write_file(path, tensors, metadata=None, pad=True, header_order=None):
    """tensors: list of (name, dtype, shape, bytes) in data order. Header keys in header_order."""
    header = {}
    if metadata is not None:
        header['__metadata__'] = metadata
    offsets = {}
    pos = 0
    for name, dtype, shape, data in tensors:
        assert len(data) == math.prod(shape) * DTYPE_BYTES[dtype], name
        offsets[name] = {'dtype': dtype, 'shape': list(shape), 'data_offsets': [pos, pos + len(data)]}
        pos += len(data)
    for name in (header_order or [t[0] for t in tensors]):
        header[name] = offsets[name]
    text = json.dumps(header, ensure_ascii=False, separators=(',', ':')).encode('utf-8')
    if pad:
        text += b' ' * ((8 - len(text) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for t in tensors:
            f.write(t[3])


def e4m3fn_value(b):
    """float8 e4m3fn from its bits, straight from the definition (bias 7, no Inf, 0x7f/0xff NaN)."""
    s = -1.0 if b & 0x80 else 1.0
    e = (b >> 3) & 0xF
    m = b & 7
    if e == 15 and m == 7:
        return float('nan')
    if e == 0:
        return s * math.ldexp(m, -9)
    return s * math.ldexp(8 + m, e - 10)


def e5m2_value(b):
    """float8 e5m2 from its bits (bias 15, IEEE-like Inf/NaN)."""
    s = -1.0 if b & 0x80 else 1.0
    e = (b >> 2) & 0x1F
    m = b & 3
    if e == 31:
        return float('nan') if m else s * float('inf')
    if e == 0:
        return s * math.ldexp(m, -16)
    return s * math.ldexp(4 + m, e - 17)


def np_f32_bits(values):
    return [int(v) for v in np.array(values, dtype=np.float32).view(np.uint32)]


def generate():
    import torch
    os.makedirs(OUT, exist_ok=True)
    expected = {}
    g = torch.Generator().manual_seed(1234)

    # floats.safetensors: F32, F16, BF16, F64 with special values; metadata; padded header;
    # header lists the tensors in a different order than the data.
    f32 = torch.tensor([0.0, -0.0, 1.5, float('inf'), float('-inf'), float('nan'), 1e-40, 3.4e38, -7.25], dtype=torch.float32)
    f32 = torch.cat([f32, torch.randn(3, generator=g)]).reshape(3, 4)
    f16 = torch.tensor([0.1, -2.0, 65504.0, 6e-8, -6.1e-5, float('inf'), float('nan'), -0.0, 1.0 / 3], dtype=torch.float16)
    f16 = torch.cat([f16, (torch.randn(15, generator=g) * 100).half()]).reshape(2, 3, 4)
    bf16 = torch.tensor([1.0 / 3, -2.5e38, 1e-40, float('-inf'), 3.0, 0.0], dtype=torch.bfloat16).reshape(6)
    f64 = torch.tensor([[1.0 / 3, 1e300, -1e-50], [2.0 ** -149, -3.5, 1e-310]], dtype=torch.float64)
    tensors = [
        ('weight.f32', 'F32', list(f32.shape), f32.numpy().astype('<f4').tobytes()),
        ('weight.f16', 'F16', list(f16.shape), f16.numpy().astype('<f2').tobytes()),
        ('weight.bf16', 'BF16', list(bf16.shape), bf16.view(torch.int16).numpy().astype('<i2').tobytes()),
        ('weight.f64', 'F64', list(f64.shape), f64.numpy().astype('<f8').tobytes()),
    ]
    meta = {'format': 'pt', 'note': 'caf\u00e9 \u2713', 'epoch': '3'}
    write_file(os.path.join(OUT, 'floats.safetensors'), tensors, meta, pad=True,
               header_order=['weight.f64', 'weight.bf16', 'weight.f32', 'weight.f16'])
    expected['floats.safetensors'] = {
        'metadata': meta,
        'order': [t[0] for t in tensors],
        'tensors': {
            'weight.f32': {'dtype': 'F32', 'shape': list(f32.shape), 'f32_bits': f32_bits(f32)},
            'weight.f16': {'dtype': 'F16', 'shape': list(f16.shape), 'f32_bits': f32_bits(f16), 'raw_u16': [int(v) & 0xFFFF for v in f16.view(torch.int16).flatten().tolist()]},
            'weight.bf16': {'dtype': 'BF16', 'shape': list(bf16.shape), 'f32_bits': f32_bits(bf16)},
            'weight.f64': {'dtype': 'F64', 'shape': list(f64.shape), 'f32_bits': f32_bits(f64)},
        },
    }

    # ints.safetensors: I64 (within int32), I32, I16, I8, U8, U16, BOOL, a scalar and an empty
    # tensor; unpadded header (the reference reader accepts any header length); no metadata.
    i64 = torch.tensor([[-2 ** 31, 2 ** 31 - 1], [0, 12345], [-7, 99]], dtype=torch.int64)
    i32 = torch.randint(-2 ** 31, 2 ** 31 - 1, (5,), generator=g, dtype=torch.int32)
    i16 = torch.tensor([-32768, 32767, -1, 0], dtype=torch.int16)
    i8 = torch.tensor([-128, 127, -1, 5], dtype=torch.int8)
    u8 = torch.arange(250, 256, dtype=torch.uint8).reshape(2, 3)
    u16 = np.array([0, 65535, 40000], dtype='<u2')
    bools = torch.tensor([True, False, True, True])
    scalar = torch.tensor(42, dtype=torch.int32)
    empty = torch.zeros((0, 3), dtype=torch.float32)
    tensors = [
        ('ids', 'I64', list(i64.shape), i64.numpy().astype('<i8').tobytes()),
        ('i32', 'I32', list(i32.shape), i32.numpy().astype('<i4').tobytes()),
        ('i16', 'I16', list(i16.shape), i16.numpy().astype('<i2').tobytes()),
        ('i8', 'I8', list(i8.shape), i8.numpy().tobytes()),
        ('empty', 'F32', [0, 3], empty.numpy().tobytes()),
        ('u8', 'U8', list(u8.shape), u8.numpy().tobytes()),
        ('u16', 'U16', [3], u16.tobytes()),
        ('mask', 'BOOL', [4], bools.numpy().tobytes()),
        ('steps', 'I32', [], scalar.numpy().astype('<i4').tobytes()),
    ]
    write_file(os.path.join(OUT, 'ints.safetensors'), tensors, None, pad=False)
    ints = lambda t: [str(int(v)) for v in t.flatten().tolist()]
    expected['ints.safetensors'] = {
        'metadata': {},
        'order': [t[0] for t in tensors],
        'tensors': {
            'ids': {'dtype': 'I64', 'shape': [3, 2], 'ints': ints(i64)},
            'i32': {'dtype': 'I32', 'shape': [5], 'ints': ints(i32)},
            'i16': {'dtype': 'I16', 'shape': [4], 'ints': ints(i16)},
            'i8': {'dtype': 'I8', 'shape': [4], 'ints': ints(i8)},
            'empty': {'dtype': 'F32', 'shape': [0, 3], 'f32_bits': []},
            'u8': {'dtype': 'U8', 'shape': [2, 3], 'ints': ints(u8)},
            'u16': {'dtype': 'U16', 'shape': [3], 'ints': [str(int(v)) for v in u16]},
            'mask': {'dtype': 'BOOL', 'shape': [4], 'ints': ints(bools.to(torch.int32))},
            'steps': {'dtype': 'I32', 'shape': [], 'ints': ints(scalar)},
        },
    }

    # wide.safetensors: I64 values outside int32 (native reads must fail, f32 reads convert).
    wide = torch.tensor([1, -(2 ** 40) - 3, 2 ** 53, 5], dtype=torch.int64)
    write_file(os.path.join(OUT, 'wide.safetensors'), [('big', 'I64', [4], wide.numpy().astype('<i8').tobytes())], {'why': 'int32 range'})
    expected['wide.safetensors'] = {
        'metadata': {'why': 'int32 range'},
        'order': ['big'],
        'tensors': {'big': {'dtype': 'I64', 'shape': [4], 'f32_bits': f32_bits(wide.to(torch.float64)), 'int32_range_error_at': 1}},
    }

    # f8.safetensors: every bit pattern of both float8 formats (torch 1.13 has no float8: the
    # values come from the format definitions above).
    allbits = bytes(range(256))
    write_file(os.path.join(OUT, 'f8.safetensors'), [('e4m3', 'F8_E4M3', [16, 16], allbits), ('e5m2', 'F8_E5M2', [256], allbits)])
    expected['f8.safetensors'] = {
        'metadata': {},
        'order': ['e4m3', 'e5m2'],
        'tensors': {
            'e4m3': {'dtype': 'F8_E4M3', 'shape': [16, 16], 'f32_bits': np_f32_bits([e4m3fn_value(b) for b in range(256)])},
            'e5m2': {'dtype': 'F8_E5M2', 'shape': [256], 'f32_bits': np_f32_bits([e5m2_value(b) for b in range(256)])},
        },
    }

    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write('\n')

    # conversions.json: f32 -> f16 (numpy) and f32 -> bf16 (torch), round to nearest even.
    special = [1 + 2 ** -11, 1 + 3 * 2 ** -11, 65504, 65519.99, 65520, 2 ** -25, 2 ** -25 * 1.0000001, 1.5 * 2 ** -24,
               2.5 * 2 ** -24, 2 ** -14 - 2 ** -25, 1e-45, -0.0, 0.0, float('inf'), float('-inf'), float('nan'),
               1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.3895e38, 3.4028235e38, -1e-39, 6.1e-5, 1e5, -1e5]
    rng = np.random.default_rng(7)
    rand = rng.standard_normal(400) * np.exp2(rng.integers(-30, 20, 400))
    inputs = np.array(special + list(rand), dtype=np.float32)
    with np.errstate(over='ignore'):  # 65520 and up overflow to Inf on purpose
        f16_bits = [int(v) for v in inputs.astype(np.float16).view(np.uint16)]
    bf16_bits = [int(v) & 0xFFFF for v in torch.from_numpy(inputs.copy()).to(torch.bfloat16).view(torch.int16).tolist()]
    with open(os.path.join(OUT, 'conversions.json'), 'w') as f:
        json.dump({'f32_bits': [int(v) for v in inputs.view(np.uint32)], 'f16_bits': f16_bits, 'bf16_bits': bf16_bits}, f)
        f.write('\n')
    print(f'wrote {OUT}')


class CheckError(Exception):
    pass


def check(path):
    """Official rules (safetensors' Rust read_metadata + validate) plus our writer's padding."""
    with open(path, 'rb') as f:
        buf = f.read()
    if len(buf) < 8:
        raise CheckError('HeaderTooSmall')
    (n,) = struct.unpack('<Q', buf[:8])
    if n > MAX_HEADER:
        raise CheckError('HeaderTooLarge')
    if 8 + n > len(buf):
        raise CheckError('InvalidHeaderLength')
    try:
        text = buf[8:8 + n].decode('utf-8')
    except UnicodeDecodeError as e:
        raise CheckError(f'InvalidHeader: {e}')
    if not text.startswith('{'):
        raise CheckError('InvalidHeaderStart')

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise CheckError(f'InvalidHeaderDeserialization: duplicate key in {keys}')
        return dict(pairs)

    try:
        header = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as e:
        raise CheckError(f'InvalidHeaderDeserialization: {e}')
    # Our writer: JSON then spaces, data 8-byte aligned.
    if (8 + n) % 8 != 0:
        raise CheckError(f'writer padding: data starts at {8 + n}, not a multiple of 8')
    body = text.rstrip(' ')
    if json.loads(body) != header or len(text) - len(body) >= 8:
        raise CheckError('writer padding: the header is not JSON followed by fewer than 8 spaces')
    metadata = header.pop('__metadata__', None)
    if metadata is not None and not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise CheckError('metadata is not a map of strings')
    infos = []
    for name, info in header.items():
        if set(info) != {'dtype', 'shape', 'data_offsets'}:
            raise CheckError(f'tensor {name}: fields {sorted(info)}')
        if info['dtype'] not in DTYPE_BYTES:
            raise CheckError(f'tensor {name}: unknown dtype {info["dtype"]}')
        infos.append((info['data_offsets'][0], info['data_offsets'][1], name, info))
    infos.sort(key=lambda x: (x[0], x[1]))
    last_end = 0
    for start, end, name, info in infos:
        if start != last_end or end < start:
            raise CheckError(f'InvalidOffset: {name}')
        if math.prod(info['shape']) * DTYPE_BYTES[info['dtype']] != end - start:
            raise CheckError(f'TensorInvalidInfo: {name}')
        last_end = end
    if last_end + 8 + n != len(buf):
        raise CheckError('MetadataIncompleteBuffer')

    import torch
    torch_dtypes = {'F64': torch.float64, 'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16,
                    'I64': torch.int64, 'I32': torch.int32, 'I16': torch.int16, 'I8': torch.int8,
                    'U8': torch.uint8, 'BOOL': torch.bool}
    numpy_dtypes = {'U16': '<u2', 'U32': '<u4', 'U64': '<u8', 'F8_E4M3': 'u1', 'F8_E5M2': 'u1'}
    out = []
    for start, end, name, info in infos:
        raw = bytearray(buf[8 + n + start:8 + n + end])
        dtype = info['dtype']
        item = {'name': name, 'dtype': dtype, 'shape': info['shape']}
        if dtype in torch_dtypes:
            t = torch.frombuffer(raw, dtype=torch_dtypes[dtype]) if raw else torch.zeros(0, dtype=torch_dtypes[dtype])
            t = t.reshape(info['shape'])
            if dtype in FLOATS:
                item['f32_bits'] = f32_bits(t)
            else:
                item['ints'] = [str(int(v)) for v in t.to(torch.int64).flatten().tolist()]
        else:
            a = np.frombuffer(bytes(raw), dtype=numpy_dtypes[dtype]).reshape(info['shape'])
            item['ints'] = [str(int(v)) for v in a.flatten()]
        out.append(item)
    return {'ok': True, 'header_length': n, 'metadata': metadata or {}, 'tensors': out}


if __name__ == '__main__':
    if len(sys.argv) >= 3 and sys.argv[1] == '--check':
        # One JSON line per file (one process for many files: importing torch takes seconds).
        status = 0
        for path in sys.argv[2:]:
            try:
                print(json.dumps(check(path)))
            except CheckError as e:
                print(json.dumps({'ok': False, 'error': str(e)}))
                status = 1
        sys.exit(status)
    elif len(sys.argv) == 1:
        generate()
    else:
        sys.exit(__doc__)
