/**
 * A weights-only unpickler for the `data.pkl` of a torch.save archive, after torch's own
 * (torch/_weights_only_unpickler.py, what torch.load does by default since torch 2.6): it builds containers,
 * numbers and strings, rebuilds tensors as references to their storages, and refuses every other global, so a
 * checkpoint never names code to run. Nothing is executed either way; the refusal is what keeps a file that
 * needs a class the engine does not know from being misread.
 *
 * Protocols 2 to 5 as torch writes them (torch.save's default pickle_protocol is 2). A tensor is
 * `torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks)`
 * whose storage is a persistent id `('storage', torch.FloatStorage, key, location, numel)`; the key names
 * the archive member `data/{key}` holding its bytes (torch/serialization.py, _save and _load).
 */
import { SaeDiffError } from '../core/errors';

/** One storage of the archive, in its element type (the legacy `torch.*Storage` class torch writes). */
export interface TorchStorageRef {
  kind: 'storage';
  /** safetensors' dtype names: F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL. */
  dtype: string;
  key: string;
  numel: number;
}

export interface TorchTensorRef {
  kind: 'tensor';
  storage: TorchStorageRef;
  /** In elements of the storage. */
  storageOffset: number;
  shape: number[];
  stride: number[];
}

/** torch's legacy storage classes, which torch.save still names for each storage's element type. */
export const STORAGE_DTYPES: Record<string, string> = {
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  DoubleStorage: 'F64',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

interface Global {
  kind: 'global';
  name: string;
}

const REBUILD_TENSOR = 'torch._utils._rebuild_tensor_v2';
/** nn.Parameter(data, requires_grad[, backward_hooks[, state]]): the data is what a state dict holds. */
const REBUILD_PARAMETER = new Set(['torch._utils._rebuild_parameter', 'torch._utils._rebuild_parameter_with_state']);
const DICTS = new Set(['collections.OrderedDict', 'builtins.dict']);

const MARK = Symbol('mark');

function refused(file: string, what: string): SaeDiffError {
  return new SaeDiffError(`The checkpoint's data.pkl ${what}`, {
    location: { file },
    hint: 'sae-diff reads state dicts of tensors (what torch.save(module.state_dict()) writes); save the weights that way, or as safetensors.',
  });
}

/** The object data.pkl describes, with tensors as TorchTensorRef and dicts as Map. */
export function unpickleWeightsOnly(bytes: Buffer, file: string): unknown {
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let p = 0;
  const need = (n: number) => {
    if (p + n > bytes.length) throw refused(file, 'ends in the middle of an instruction (the file is truncated)');
  };
  const u8 = () => (need(1), bytes[p++]);
  const u16 = () => (need(2), (p += 2), bytes.readUInt16LE(p - 2));
  const i32 = () => (need(4), (p += 4), bytes.readInt32LE(p - 4));
  const u32 = () => (need(4), (p += 4), bytes.readUInt32LE(p - 4));
  const u64 = () => {
    need(8);
    const v = bytes.readBigUInt64LE(p);
    p += 8;
    if (v > BigInt(bytes.length)) throw refused(file, 'declares a string longer than the file');
    return Number(v);
  };
  const text = (n: number) => (need(n), (p += n), bytes.toString('utf8', p - n, p));
  const line = () => {
    const end = bytes.indexOf(0x0a, p);
    if (end < 0) throw refused(file, 'ends in the middle of a global name');
    const s = bytes.toString('latin1', p, end);
    p = end + 1;
    return s;
  };
  const pop = () => {
    if (stack.length === 0) throw refused(file, 'pops an empty stack (it is damaged)');
    return stack.pop();
  };
  const popMark = (): unknown[] => {
    const at = marks.pop();
    if (at === undefined) throw refused(file, 'closes a MARK it never opened (it is damaged)');
    return stack.splice(at);
  };
  const top = () => stack[stack.length - 1];
  const global = (module: string, name: string): Global => {
    const full = `${module}.${name}`;
    const storage = module === 'torch' && name in STORAGE_DTYPES;
    if (!storage && full !== REBUILD_TENSOR && !REBUILD_PARAMETER.has(full) && !DICTS.has(full))
      throw refused(file, `names ${full}, which a weights-only load does not build`);
    return { kind: 'global', name: full };
  };
  const setItems = (target: unknown, items: unknown[]) => {
    if (!(target instanceof Map)) throw refused(file, 'sets items on something that is not a dict');
    for (let i = 0; i + 1 < items.length; i += 2) target.set(items[i], items[i + 1]);
  };
  const integer = (v: unknown, what: string): number => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw refused(file, `gives a tensor a ${what} that is not an integer`);
    return v;
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME
        p += 8;
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) throw refused(file, 'ends with a damaged stack');
        return stack[0];
      case 0x28: // MARK
        marks.push(stack.length);
        stack.push(MARK);
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x8a: {
        // LONG1: a little-endian two's complement integer of n bytes
        const n = u8();
        need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[p + i]);
        if (n > 0 && bytes[p + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        p += n;
        stack.push(Number(v));
        break;
      }
      case 0x47: // BINFLOAT (big-endian double)
        need(8);
        stack.push(bytes.readDoubleBE(p));
        p += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(u64()));
        break;
      case 0x55: {
        // SHORT_BINSTRING
        const n = u8();
        need(n);
        stack.push(bytes.toString('latin1', p, (p += n)));
        break;
      }
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x74: // TUPLE
        stack.push(popMark().slice(1));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark().slice(1));
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        (top() as unknown[]).push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark().slice(1);
        const list = top();
        if (!Array.isArray(list)) throw refused(file, 'appends to something that is not a list');
        list.push(...items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: {
        // DICT
        const m = new Map();
        setItems(m, popMark().slice(1));
        stack.push(m);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark().slice(1);
        setItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) throw refused(file, `reads memo entry ${k}, which was never stored (it is damaged)`);
        stack.push(memo.get(k));
        break;
      }
      case 0x30: // POP
        pop();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x63: // GLOBAL
        stack.push(global(line(), line()));
        break;
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        stack.push(global(String(module), String(name)));
        break;
      }
      case 0x51: {
        // BINPERSID: torch's ('storage', storage_type, key, location, numel)
        const pid = pop();
        const type = Array.isArray(pid) ? (pid[1] as Global | undefined) : undefined;
        if (!Array.isArray(pid) || pid[0] !== 'storage' || type?.kind !== 'global' || !type.name.startsWith('torch.'))
          throw refused(file, 'holds a persistent id that is not a torch storage');
        stack.push({
          kind: 'storage',
          dtype: STORAGE_DTYPES[type.name.slice('torch.'.length)],
          key: String(pid[2]),
          numel: integer(pid[4], 'storage size'),
        } satisfies TorchStorageRef);
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop() as Global;
        if (fn?.kind !== 'global' || !Array.isArray(args)) throw refused(file, 'calls something that is not a known global');
        if (DICTS.has(fn.name)) stack.push(new Map());
        else if (REBUILD_PARAMETER.has(fn.name)) stack.push(args[0]);
        else {
          const [storage, offset, size, stride] = args as [TorchStorageRef, unknown, unknown[], unknown[]];
          if (storage?.kind !== 'storage' || !Array.isArray(size) || !Array.isArray(stride) || size.length !== stride.length)
            throw refused(file, 'rebuilds a tensor from something that is not a storage');
          stack.push({
            kind: 'tensor',
            storage,
            storageOffset: integer(offset, 'storage offset'),
            shape: size.map((s) => integer(s, 'size')),
            stride: stride.map((s) => integer(s, 'stride')),
          } satisfies TorchTensorRef);
        }
        break;
      }
      case 0x62: // BUILD: a state dict's _metadata (module versions), which only load_state_dict reads
        pop();
        break;
      default:
        throw refused(file, `uses pickle instruction 0x${op.toString(16)}, which a state dict of tensors does not need`);
    }
  }
}
